"""The captioner: writes down what each participant says, as transcripts in the chat.

Every participant's audio goes through a segmenter of its own (voice activity
detection, bots.speech.segmenter), so that everyone is heard at once, not only
the first speaker. Each utterance the segmenter cuts (at most
``VOICEBOT_UTTERANCE_MAX`` seconds: a monologue comes out in pieces) waits in
one bounded queue (``VOICEBOT_CAPTIONER_QUEUE``; past it the oldest is
dropped and counted) for speech to text, which runs on the speech threads,
off the event loop, one utterance at a time in the order they ended. Each
transcript is posted with ``context.say(text, transcript_speaker=...)``: a
``chat`` frame with ``transcript.speaker_session_id``, kept in chat history.

The detector runs on the event loop (silero: a fraction of a millisecond per
32 ms window). When every provider of speech to text (or of voice activity
detection) is down the bot is ``unavailable`` (bots.kinds.outage): it says so
in chat, ignores the audio meanwhile, and captions again once a provider
answers.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.conf import settings

from bots.kinds.base import SAMPLE_RATE, BotBehaviour, BotContext
from bots.kinds.outage import SpeechOutage
from bots.models import BotKind
from bots.speech.audio import SPEECH_RATE, PcmResampler
from bots.speech.chains import SpeechToTextChain, VoiceActivityChain
from bots.speech.exceptions import SpeechInputError, SpeechUnavailableError
from bots.speech.providers import segmenter_create, stt_chain, vad_chain
from bots.speech.segmenter import UtteranceEnded, UtteranceSegmenter
from lobbies.models import Participant

logger = logging.getLogger("voicebot.bots")

# Chat text is at most this long (PROTOCOL.md).
CHAT_MAX_CHARS = 2000

DOWN_TEXT = "Captions are paused: my speech recognition service is down. They resume by themselves."
UP_TEXT = "Captions are back."


@dataclass
class Listener:
    """One participant's audio on its way to utterances."""

    resampler: PcmResampler = field(default_factory=lambda: PcmResampler(SAMPLE_RATE, SPEECH_RATE))
    # None while its detector is being made.
    segmenter: UtteranceSegmenter | None = None


@dataclass(frozen=True, slots=True)
class Utterance:
    speaker: str
    pcm16k: np.ndarray = field(repr=False)
    ended: float  # time.monotonic() when its last audio arrived

    @property
    def seconds(self) -> float:
        return self.pcm16k.size / SPEECH_RATE


class CaptionerBot(BotBehaviour):
    kind = BotKind.CAPTIONER

    def __init__(self, context: BotContext) -> None:
        super().__init__(context)
        self.listeners: dict[str, Listener] = {}
        self.queue: deque[Utterance] = deque()
        self.max_queue = settings.VOICEBOT_CAPTIONER_QUEUE
        self.wake = asyncio.Event()
        self.tasks: set[asyncio.Task[Any]] = set()
        self.writer: asyncio.Task[None] | None = None
        self.dropped = 0
        self.transcripts = 0
        self.empty = 0
        self.peak_queue = 0
        self.peak_queued_seconds = 0.0
        self.peak_buffered_seconds = 0.0
        self.outage = SpeechOutage(context, down_text=DOWN_TEXT, up_text=UP_TEXT,
                                   resume_state=Participant.BotState.LISTENING, on_recovered=self.listeners_reset)

    @classmethod
    def unavailable_reason(cls) -> str | None:
        for role, health in (("voice activity detection", vad_chain().health()),
                             ("speech-to-text", stt_chain().health())):
            if all(provider.state == "unavailable" for provider in health.providers):
                reasons = "; ".join(f"{p.provider}: {p.reason}" for p in health.providers)
                return f"No {role} provider can run on this server ({reasons})."
        return None

    @property
    def language(self) -> str:
        profile = self.context.profile
        return (profile.language or "en") if profile is not None else "en"

    # --- Hooks --------------------------------------------------------------

    async def started(self) -> None:
        if not self.outage.down:
            self.context.set_state(Participant.BotState.LISTENING)
        if self.writer is None:
            self.writer = asyncio.get_running_loop().create_task(self.write_transcripts())

    async def stopped(self) -> None:
        await self.outage.stop()
        tasks = [*self.tasks, *([self.writer] if self.writer is not None else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.writer = None

    async def peer_closed(self, peer_id: str) -> None:
        listener = self.listeners.pop(peer_id, None)
        if listener is not None and listener.segmenter is not None:
            self.events(peer_id, listener.segmenter.flush())

    def audio_received(self, peer_id: str, pcm: np.ndarray) -> None:
        if self.outage.down:
            return
        listener = self.listeners.get(peer_id)
        if listener is None:
            self.listeners[peer_id] = Listener()
            self.spawn(self.listen(peer_id))
            return
        if listener.segmenter is None:
            return  # its detector is on its way
        try:
            events = listener.segmenter.feed(listener.resampler.push(pcm))
        except SpeechInputError as exc:
            self.context.report(exc, "audio_received")
            return
        self.peak_buffered_seconds = max(self.peak_buffered_seconds, listener.segmenter.buffered_seconds)
        if events:
            self.events(peer_id, events)

    def stats(self) -> dict[str, Any]:
        return {
            "listeners": len(self.listeners),
            # Those whose detector is ready: until then a participant's audio is not heard.
            "hearing": sum(listener.segmenter is not None for listener in self.listeners.values()),
            "queued_utterances": len(self.queue),
            "queued_seconds": round(sum(u.seconds for u in self.queue), 2),
            "buffered_seconds": round(sum(listener.segmenter.buffered_seconds for listener in self.listeners.values()
                                          if listener.segmenter is not None), 2),
            "peak_queued_utterances": self.peak_queue,
            "peak_queued_seconds": round(self.peak_queued_seconds, 2),
            "peak_buffered_seconds": round(self.peak_buffered_seconds, 2),
            "transcripts": self.transcripts,
            "empty": self.empty,
            "dropped": self.dropped,
            "outages": self.outage.outages,
            "unavailable": self.outage.down,
        }

    # --- Utterances ---------------------------------------------------------

    def spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def listen(self, peer_id: str) -> None:
        """Makes ``peer_id``'s segmenter (a detector of its own, through the VAD chain)."""
        try:
            segmenter = await segmenter_create()
        except SpeechUnavailableError as exc:
            self.listeners.pop(peer_id, None)
            chain: VoiceActivityChain = vad_chain()
            self.outage.begin(exc, probe=chain.probe, where="listen")
            return
        listener = self.listeners.get(peer_id)
        if listener is not None:
            listener.segmenter = segmenter

    def listeners_reset(self) -> None:
        """After an outage: every participant's detector afresh (what it held is stale)."""
        self.listeners.clear()

    def events(self, peer_id: str, events: list[Any]) -> None:
        for event in events:
            if isinstance(event, UtteranceEnded):
                self.queue.append(Utterance(peer_id, event.pcm16k, time.monotonic()))
                while len(self.queue) > self.max_queue:
                    self.queue.popleft()
                    self.dropped += 1
                self.peak_queue = max(self.peak_queue, len(self.queue))
                self.peak_queued_seconds = max(self.peak_queued_seconds, sum(u.seconds for u in self.queue))
                self.wake.set()

    async def write_transcripts(self) -> None:
        chain = stt_chain()
        await chain.warm_up_once()
        while True:
            if not self.queue:
                self.wake.clear()
                await self.wake.wait()
                continue
            utterance = self.queue.popleft()
            if self.outage.down:
                self.dropped += 1
                continue
            try:
                transcript = await chain.transcribe(utterance.pcm16k, language=self.language)
            except SpeechUnavailableError as exc:
                self.dropped += 1 + len(self.queue)
                self.queue.clear()
                self.outage.begin(exc, probe=lambda: chain.probe(language=self.language), where="transcribe")
                continue
            except SpeechInputError as exc:
                self.context.report(exc, "transcribe")
                continue
            text = " ".join(transcript.text.split())[:CHAT_MAX_CHARS]
            if not text:
                self.empty += 1
                continue
            if utterance.speaker not in self.context.participants:
                self.dropped += 1  # they left meanwhile: the protocol takes transcripts of participants only
                continue
            self.transcripts += 1
            logger.info("bot %s: transcript of %s after %.2f s (%s, %.1f s of audio)", self.context.session_id[:8],
                        utterance.speaker[:8], time.monotonic() - utterance.ended, transcript.provider,
                        utterance.seconds)
            await self.context.say(text, transcript_speaker=utterance.speaker)
