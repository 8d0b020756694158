"""The announcer: reads chat lines aloud and says who joins and leaves, to everyone in the lobby.

Lines wait in a bounded queue (``VOICEBOT_ANNOUNCER_QUEUE``): when a flood
overflows it, the oldest waiting lines are skipped and the announcer says how
many ("3 messages were not read.") before the next one, so that neither memory nor
the delay of what it says grows with the flood. A line is read only once the
audio of the one before has nearly played, so lines wait here, not as audio.
Chat lines longer than ``VOICEBOT_ANNOUNCER_MAX_CHARS`` are cut at a word.
Lines of bots (transcripts included) are not read: two bots must not talk to
each other forever.

Speech comes from this process's text-to-speech chain (bots.speech: Piper,
then espeak-ng, each call guarded). When every provider is down the bot is
``unavailable`` (bots.kinds.outage): it says so in chat, skips what comes
meanwhile, and speaks again once a provider answers.
"""
from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any

from django.conf import settings

from bots.kinds.base import BotBehaviour, BotContext
from bots.kinds.outage import SpeechOutage
from bots.models import BotKind
from bots.speech.chains import TextToSpeechChain
from bots.speech.exceptions import SpeechInputError, SpeechUnavailableError
from bots.speech.providers import tts_chain
from lobbies.models import Participant

logger = logging.getLogger("voicebot.bots")

# The next line is rendered once the audio still to play is this short: speech
# flows without a gap, and a flood waits in the bounded queue, not as audio.
RENDER_AHEAD = 0.5
# How often the speaker looks at the audio still queued.
POLL = 0.05

DOWN_TEXT = "I cannot speak right now: my text-to-speech service is down. I will try again by myself."
UP_TEXT = "My voice is back: I read the chat aloud again."



def cut(text: str, max_chars: int) -> str:
    """``text`` at most ``max_chars`` characters long, cut at a word where it can be."""
    text = " ".join(text.split())
    if len(text) <= max_chars:
        return text
    space = text.rfind(" ", 0, max_chars + 1)
    return text[: space if space > max_chars // 2 else max_chars].rstrip(" ,;:") + "..."


def skipped_text(count: int) -> str:
    return "One message was not read." if count == 1 else f"{count} messages were not read."


class AnnouncerBot(BotBehaviour):
    kind = BotKind.ANNOUNCER

    def __init__(self, context: BotContext) -> None:
        super().__init__(context)
        self.lines: deque[str] = deque()
        self.max_lines = settings.VOICEBOT_ANNOUNCER_QUEUE
        self.skipped = 0  # lines skipped since the last notice
        self.skipped_total = 0
        self.spoken = 0
        self.peak_lines = 0
        self.wake = asyncio.Event()
        self.speaker: asyncio.Task[None] | None = None
        self.introduced = False
        self.outage = SpeechOutage(context, down_text=DOWN_TEXT, up_text=UP_TEXT,
                                   resume_state=Participant.BotState.LISTENING)

    @classmethod
    def unavailable_reason(cls) -> str | None:
        health = tts_chain().health()
        if all(provider.state == "unavailable" for provider in health.providers):
            reasons = "; ".join(f"{p.provider}: {p.reason}" for p in health.providers)
            return f"No text-to-speech provider can run on this server ({reasons})."
        return None

    @property
    def voice(self) -> str | None:
        return (self.context.profile.voice or None) if self.context.profile is not None else None

    # --- Hooks --------------------------------------------------------------

    async def started(self) -> None:
        if not self.outage.down:
            self.context.set_state(Participant.BotState.LISTENING)
        if not self.introduced:
            self.introduced = True
            profile = self.context.profile
            greeting = profile.greeting if profile is not None and profile.greeting else \
                "Hello, I will read the chat aloud."
            self.announce(greeting)
        if self.speaker is None:
            self.speaker = asyncio.get_running_loop().create_task(self.speak_lines())

    async def stopped(self) -> None:
        await self.outage.stop()
        if self.speaker is not None:
            self.speaker.cancel()
            await asyncio.gather(self.speaker, return_exceptions=True)
            self.speaker = None

    async def participant_joined(self, participant: dict[str, Any]) -> None:
        if participant["session_id"] != self.context.session_id:
            self.announce(f"{participant['name']} joined.")

    async def participant_left(self, session_id: str, reason: str, participant: dict[str, Any] | None) -> None:
        if participant is not None:
            self.announce(f"{participant['name']} left.")

    async def chat_received(self, message: dict[str, Any]) -> None:
        if message.get("is_bot") or message.get("transcript") or message.get("session_id") == self.context.session_id:
            return
        text = cut(str(message.get("text", "")), settings.VOICEBOT_ANNOUNCER_MAX_CHARS)
        if text:
            self.announce(f"{message.get('name', 'Someone')} says: {text}")

    def stats(self) -> dict[str, Any]:
        return {"queued_lines": len(self.lines), "peak_queued_lines": self.peak_lines,
                "queued_audio_seconds": round(self.context.audio.queued(), 2), "spoken": self.spoken,
                "skipped": self.skipped_total, "outages": self.outage.outages, "unavailable": self.outage.down}

    # --- Speaking -----------------------------------------------------------

    def announce(self, line: str) -> None:
        """Queue ``line`` to be spoken; the oldest waiting line is skipped when the queue is full."""
        if self.outage.down:
            self.skip(1)
            return
        self.lines.append(line)
        while len(self.lines) > self.max_lines:
            self.lines.popleft()
            self.skip(1)
        self.peak_lines = max(self.peak_lines, len(self.lines))
        self.wake.set()

    def skip(self, count: int) -> None:
        self.skipped += count
        self.skipped_total += count

    async def speak_lines(self) -> None:
        chain = tts_chain()
        await chain.warm_up_once()
        audio = self.context.audio
        while True:
            if not self.lines:
                while audio.queued() > 0 and not self.lines:
                    await asyncio.sleep(POLL)
                if not self.lines:
                    if not self.outage.down:
                        self.context.set_state(Participant.BotState.LISTENING)
                    self.wake.clear()
                    await self.wake.wait()
                    continue
            if audio.queued() > RENDER_AHEAD or self.outage.down:
                await asyncio.sleep(POLL)
                continue
            if self.skipped:
                line, self.skipped = skipped_text(self.skipped), 0
            else:
                line = self.lines.popleft()
            await self.speak(chain, line)

    async def speak(self, chain: TextToSpeechChain, line: str) -> None:
        self.context.set_state(Participant.BotState.SPEAKING)
        try:
            async for chunk in chain.synthesize(line, voice=self.voice):
                self.context.audio.play_all(chunk)
            self.spoken += 1
        except SpeechUnavailableError as exc:
            self.skip(len(self.lines))
            self.lines.clear()
            self.outage.begin(exc, probe=chain.probe, where="speak")
        except SpeechInputError as exc:
            self.context.report(exc, "speak")
