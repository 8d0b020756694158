"""The assistant: it hears everyone, answers by voice what it is asked, and stops when talked over.

Its parts are bots.speech (voice activity, speech to text, text to speech)
and bots.assistant (language models, tools, sentences, conversation, turn
taking, metrics); this module wires them to the bot runtime:

- each participant's audio (48 kHz frames) is resampled to 16 kHz and cut
  into utterances by a segmenter of its own; each utterance is transcribed
  (posted as a transcript in the chat) and the participant's end of turn is
  decided (``TurnDetector``: the endpointing delay, longer for what sounds
  unfinished);
- a finished turn goes into the conversation (who said what); when it is for
  the bot (``Addressing``: in a lobby of more than two people only what names
  it, where the setting asks), the answer streams from the first language
  model that serves and is spoken sentence by sentence as it streams, to
  everyone (the shared audio);
- speech over the bot pauses its audio at once; an interruption confirmed by
  ``BargeIn`` (long enough, or words that are not "ok"/"hmm") drops what is
  queued, cancels the answer (closing the provider's stream) and keeps in the
  conversation only what was played: the mixer counts the shared audio that
  went out, and each sentence's place in it is known. The bot's own voice
  coming back through a microphone (``EchoDetector`` on the signal,
  ``transcript_is_echo`` on the words) neither pauses nor interrupts it;
- when no provider serves (language model or speech to text), the bot says so
  with its local voice, posts it in the chat, stores the error (category
  ``bot``), shows ``unavailable`` and probes until one answers again;
- the tools the profile allows: who is here, mute the one who asked, leave
  (after what it is saying has been played);
- the conversation is stored after each change (bots.records), so that a bot
  resumed by another worker carries on; each turn's timings are stored and go
  to Prometheus.

All of it runs on the worker's event loop; speech to text and text to speech
run on the speech threads (bots.speech.executor). ``audio_received`` does the
cheap part only: resampling and voice activity (a few tenths of a
millisecond per frame).
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

from bots import records
from bots.assistant.answer import Answer
from bots.assistant.context import Conversation, SpokenAnswer, tokenizer_load
from bots.assistant.exceptions import ConversationDataError, LLMUnavailableError
from bots.assistant.llm.config import ProviderSelectionError, llm_unavailable_reason
from bots.assistant.llm.router import LLMRouter
from bots.assistant.metrics import TurnTimer, turn_observe
from bots.assistant.tools import ParticipantView, ToolSet, UnknownToolError
from bots.assistant.turns.addressing import Addressing
from bots.assistant.turns.bargein import Action, BargeIn, BargeInPolicy, is_backchannel
from bots.assistant.turns.echo import EchoDetector, transcript_is_echo
from bots.assistant.turns.endpointing import Endpointing, Turn, TurnDetector
from bots.exceptions import BotUnavailableError
from bots.kinds.base import SAMPLE_RATE, BotBehaviour, BotContext
from bots.models import BotKind, default_tools
from bots.speech.audio import SPEECH_RATE, PcmResampler
from bots.speech.exceptions import SpeechUnavailableError
from bots.speech.chains import tts_speaking
from bots.speech.providers import segmenter_create, speech_warm_up, stt_chain, tts_chain
from bots.speech.segmenter import SpeechStarted, UtteranceEnded, UtteranceSegmenter
from errors.exceptions import DatabaseUnavailableError
from lobbies.models import Participant
from resilience.database import db_call

logger = logging.getLogger("voicebot.bots.assistant")

State = Participant.BotState
# How often turn ends and barge-in deadlines are looked at.
TICK = 0.02
# Echo scores (bots.assistant.turns.echo) from which speech over the bot is its own voice. Measured
# with Piper over Piper: an echo scores 0.9 to 1.0; another sentence over the bot scored up to 0.85
# on its first 0.3 s and up to 0.78 on its first 0.6 s (0.33 to 0.63 over a second), so speech taken
# for echo at its start is scored again once it lasted the minimum interruption.
ECHO_THRESHOLD = 0.88
# Sentences of the bot kept to recognise its own words coming back.
SAID_KEPT = 8
UNAVAILABLE_WORDS = "Sorry, I cannot reach my language model right now. I will answer again as soon as I can."
UNAVAILABLE_STT_WORDS = "Sorry, I cannot understand speech right now. I will listen again as soon as I can."
UNAVAILABLE_TTS_WORDS = "Sorry, I cannot speak right now. I will answer again as soon as I can."
BACK_WORDS = "I can answer again."
BAD_PROFILE_WORDS = "This assistant's profile cannot be used; staff must fix it."


@dataclass
class Listener:
    """One participant as the bot hears them."""

    session_id: str
    segmenter: UtteranceSegmenter
    turns: TurnDetector
    echo: EchoDetector = field(default_factory=lambda: EchoDetector(threshold=ECHO_THRESHOLD))
    resampler: PcmResampler = field(default_factory=lambda: PcmResampler(SAMPLE_RATE, SPEECH_RATE))
    # Seconds of 16 kHz audio fed to the segmenter (its clock).
    fed: float = 0.0
    # The utterance in progress began as the bot's own voice coming back / while the bot spoke.
    echo_speech: bool = False
    over_bot: bool = False
    # When speech taken for echo began, until it is scored again over a longer window.
    echo_since: float | None = None
    # When the last transcript came, and from which provider (for the turn's timings).
    transcribed_at: float | None = None
    stt_provider: str | None = None
    transcribing: int = 0

    def monotonic(self, audio_seconds: float, now: float) -> float:
        """A time on the segmenter's clock as a time on the event loop's monotonic clock."""
        return now - (self.fed - audio_seconds)


@dataclass
class Playback:
    """The sentences of one answer and where each sits in the shared audio, to know what was heard."""

    spoken: SpokenAnswer
    sentences: list[tuple[str, float, float]] = field(default_factory=list)

    def add(self, sentence: str, start: float, end: float) -> None:
        self.sentences.append((sentence, start, end))

    @property
    def end(self) -> float:
        return self.sentences[-1][2] if self.sentences else 0.0

    def write(self, position: float, *, interrupted: bool) -> str:
        """Write what was played up to ``position`` into the conversation; the text heard."""
        for sentence, start, end in self.sentences:
            if end <= position + 1e-6:
                self.spoken.played(sentence)
            else:
                if position > start:
                    self.spoken.played(sentence, (position - start) / max(end - start, 1e-6))
                break
        cut = interrupted and position + 1e-6 < self.end
        item = self.spoken.end(interrupted=cut)
        return item.text if item is not None else ""


class AssistantHost:
    """The platform's side of the tools: the lobby as the bot sees it, muting, leaving."""

    def __init__(self, bot: AssistantBot) -> None:
        self.bot = bot

    def participants(self) -> list[ParticipantView]:
        context = self.bot.context
        people = [ParticipantView(p["session_id"], p["name"], bool(p.get("is_bot")), bool(p.get("muted")))
                  for p in context.participants.values()]
        return [ParticipantView(context.session_id, self.bot.name, True, False), *people]

    async def mute(self, session_id: str) -> None:
        await self.bot.context.mute(session_id)

    async def leave(self) -> None:
        self.bot.leaving = True


class AssistantBot(BotBehaviour):
    kind = BotKind.ASSISTANT

    @classmethod
    def unavailable_reason(cls) -> str | None:
        return llm_unavailable_reason()

    @classmethod
    async def warm_up(cls) -> None:
        # Whisper and Piper are slow on their first call; the tokenizer takes half a second to load.
        await speech_warm_up()
        await asyncio.to_thread(tokenizer_load)

    def __init__(self, context: BotContext) -> None:
        super().__init__(context)
        profile = context.profile
        self.profile_id: str | None = profile.pk if profile is not None else None
        self.instructions = profile.instructions if profile is not None else ""
        self.greeting = profile.greeting if profile is not None else ""
        self.language = (profile.language if profile is not None else "") or "en"
        self.voice = (profile.voice if profile is not None else "") or None
        self.max_words = profile.answer_length if profile is not None else 60
        self.temperature = profile.temperature if profile is not None else None
        self.profile_problem: str | None = None
        try:
            self.tools = ToolSet(profile.tools if profile is not None else default_tools())
            self.router = LLMRouter.from_settings(profile.providers if profile is not None else None,
                                                  report=self.report_llm)
        except (UnknownToolError, ProviderSelectionError) as exc:
            self.profile_problem = str(exc)
            self.tools = ToolSet([])
            self.router = LLMRouter([], first_token_timeout=1.0, chunk_timeout=1.0)
        self.addressing = Addressing.from_settings()
        self.endpointing = Endpointing.from_settings()
        self.bargein = BargeIn(BargeInPolicy.from_settings())
        self.host = AssistantHost(self)
        self.listeners: dict[str, Listener] = {}
        self.conversation: Conversation | None = None
        self.answering: asyncio.Task[None] | None = None
        self.tasks: set[asyncio.Task[Any]] = set()
        self.ticker: asyncio.Task[None] | None = None
        self.said: deque[str] = deque(maxlen=SAID_KEPT)
        self.unavailable = False
        self.leaving = False
        self.saving: asyncio.Task[None] | None = None
        self.dirty = False
        # The audio is held while speech over it may be its echo.
        self.echo_hold = False
        self.greeted = False

    # --- Names and clocks ------------------------------------------------------

    @property
    def name(self) -> str:
        return str(getattr(self.context, "name", "") or "Assistant")

    def humans(self) -> int:
        return sum(1 for p in self.context.participants.values() if not p.get("is_bot"))

    def speaking(self) -> bool:
        audio = self.context.audio
        return audio.queued() > 0 or self.bargein.paused or self.echo_hold

    def spawn(self, coroutine: Any, where: str) -> asyncio.Task[Any]:
        async def guarded() -> None:
            try:
                await coroutine
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - one failed step must not take the bot down
                logger.warning("assistant %s: %s failed", self.context.session_id[:8], where, exc_info=True)
                self.context.report(exc, where)

        task = asyncio.get_running_loop().create_task(guarded())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    # --- Hooks -----------------------------------------------------------------

    async def started(self) -> None:
        self.context.audio.shared_listener = self.shared_frame_out
        if self.ticker is None:
            self.ticker = self.spawn(self.tick(), "tick")
        if self.conversation is None:
            await asyncio.to_thread(tokenizer_load)
            self.conversation = await self.conversation_load()
        if self.profile_problem is not None:
            self.context.report(BotUnavailableError(BAD_PROFILE_WORDS, context={"problem": self.profile_problem}),
                                "profile")
            self.context.set_state(State.UNAVAILABLE)
            await self.context.say(BAD_PROFILE_WORDS)
            return
        self.context.set_state(State.UNAVAILABLE if self.unavailable else State.LISTENING)
        if not self.greeted and self.greeting and not self.conversation.items:
            self.greeted = True
            self.answering = self.spawn(self.say_aloud(self.greeting, record=True), "greeting")

    async def stopped(self) -> None:
        if self.answering is not None:
            self.answering.cancel()
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.conversation is not None:
            await self.conversation_store()

    async def peer_connected(self, peer_id: str) -> None:
        if peer_id in self.listeners:
            return
        try:
            segmenter = await segmenter_create(silence=settings.VOICEBOT_ASSISTANT_VAD_SILENCE,
                                               min_speech=settings.VOICEBOT_ASSISTANT_VAD_MIN_SPEECH)
        except SpeechUnavailableError as exc:
            await self.go_unavailable(exc, UNAVAILABLE_STT_WORDS)
            return
        self.listeners[peer_id] = Listener(peer_id, segmenter, TurnDetector(peer_id, self.endpointing))

    async def peer_closed(self, peer_id: str) -> None:
        self.listeners.pop(peer_id, None)

    def audio_received(self, peer_id: str, pcm: np.ndarray) -> None:
        listener = self.listeners.get(peer_id)
        if listener is None:
            return
        now = time.monotonic()
        listener.echo.heard(pcm, at=now - pcm.size / SAMPLE_RATE)
        samples = listener.resampler.push(pcm)
        events = listener.segmenter.feed(samples)
        listener.fed += samples.size / SPEECH_RATE
        for event in events:
            if isinstance(event, SpeechStarted):
                self.speech_started(listener, event, now)
            elif isinstance(event, UtteranceEnded):
                self.utterance_ended(listener, event, now)

    def shared_frame_out(self, pcm: np.ndarray, at: float) -> None:
        """The bot's voice went out to everyone: each listener's echo detector keeps it."""
        for listener in self.listeners.values():
            listener.echo.played(pcm, at=at)

    # --- Hearing ---------------------------------------------------------------

    def speech_started(self, listener: Listener, event: SpeechStarted, now: float) -> None:
        started_at = listener.monotonic(event.at, now)
        listener.turns.speech_started(started_at)
        speaking = self.speaking()
        listener.over_bot = speaking
        score = listener.echo.score(started_at, now) if speaking else 0.0
        if speaking and score >= listener.echo.threshold:
            # Likely its own voice coming back, but its first tenth of a second says little (a sentence that
            # begins as the bot's does scores high too): hold the audio, and score it again
            # once it lasted the minimum interruption (``echo_recheck``).
            listener.echo_speech = True
            listener.echo_since = started_at
            self.echo_hold = True
            self.context.audio.pause()
            logger.info("assistant %s: speech over it from %s may be its echo (score %.2f): held",
                        self.context.session_id[:8], listener.session_id[:8], score)
            return
        action = self.bargein.speech_started(listener.session_id, now=now, started_at=started_at,
                                             bot_speaking=speaking)
        if speaking:
            logger.info("assistant %s: speech over it from %s (echo score %.2f): %s", self.context.session_id[:8],
                        listener.session_id[:8], score, action.value)
        self.act(action)

    def utterance_ended(self, listener: Listener, event: UtteranceEnded, now: float) -> None:
        ended_at = listener.monotonic(event.ended_at, now)
        listener.turns.utterance_ended(speech_ended_at=ended_at, final=event.final)
        if listener.echo_since is not None:
            self.echo_recheck(listener, now, end=ended_at)
        self.act(self.bargein.utterance_ended(listener.session_id, now=now,
                                              duration=event.ended_at - event.started_at))
        echo, over_bot = listener.echo_speech, listener.over_bot
        if event.final:
            listener.echo_speech = listener.over_bot = False
            listener.echo_since = None
        listener.transcribing += 1
        self.spawn(self.transcribe(listener, event.pcm16k, echo=echo, over_bot=over_bot), "transcribe")

    async def transcribe(self, listener: Listener, pcm16k: np.ndarray, *, echo: bool, over_bot: bool) -> None:
        try:
            try:
                transcript = await stt_chain().transcribe(pcm16k, language=self.language)
            except SpeechUnavailableError as exc:
                listener.turns.transcript("")
                listener.turns.discard()
                await self.go_unavailable(exc, UNAVAILABLE_STT_WORDS)
                return
        finally:
            listener.transcribing -= 1
        now = time.monotonic()
        text = transcript.text.strip()
        # Its own words coming back, for speech over the bot that the signal did not give away; and
        # speech the signal took for echo whose words are not the bot's (a short "stop!") is not.
        words_echo = over_bot and transcript_is_echo(text, self.said)
        if echo and not words_echo and text and not is_backchannel(text):
            logger.info("assistant %s: words over it from %s are not its own: interrupted",
                        self.context.session_id[:8], listener.session_id[:8])
            echo = False
            self.interrupt()
        echo = echo or words_echo
        action = self.bargein.transcript(listener.session_id, text, now=now, echo=echo)
        if echo or action in (Action.RESUME, Action.IGNORE):
            # Its own voice, or an "ok" over it: not a turn.
            listener.turns.transcript("")
            listener.turns.discard()
            self.act(action)
            return
        self.act(action)
        listener.turns.transcript(text)
        listener.transcribed_at = now
        listener.stt_provider = transcript.provider
        if text:
            await self.context.say(text, transcript_speaker=listener.session_id)

    async def tick(self) -> None:
        while True:
            await asyncio.sleep(TICK)
            now = time.monotonic()
            deadline = self.bargein.deadline()
            if deadline is not None and now >= deadline:
                self.act(self.bargein.poll(now))
            elif self.bargein.paused is False and not self.speaking():
                self.bargein.bot_stopped()
            for listener in list(self.listeners.values()):
                self.echo_recheck(listener, now)
                turn = listener.turns.poll(now)
                if turn is not None:
                    self.turn_finished(listener, turn)

    def echo_recheck(self, listener: Listener, now: float, *, end: float | None = None) -> None:
        """Speech held as the bot's echo, scored again over its first ``min_interruption`` (or all of it)."""
        since = listener.echo_since
        if since is None or (end is None and now - since < self.bargein.policy.min_interruption):
            return
        listener.echo_since = None
        score = listener.echo.score(since, end if end is not None else now)
        if score >= listener.echo.threshold:
            logger.info("assistant %s: speech over it from %s is its echo (score %.2f): plays on",
                        self.context.session_id[:8], listener.session_id[:8], score)
            self.echo_release()
            return
        listener.echo_speech = False
        action = self.bargein.speech_started(listener.session_id, now=now, started_at=since,
                                             bot_speaking=self.speaking())
        logger.info("assistant %s: speech over it from %s is not its echo (score %.2f): %s",
                    self.context.session_id[:8], listener.session_id[:8], score, action.value)
        self.echo_hold = False  # the barge-in policy holds it now, or it stops
        self.act(action)

    def echo_release(self) -> None:
        """No speech held as echo is left: the audio plays on (unless the barge-in policy paused it)."""
        if any(listener.echo_since is not None for listener in self.listeners.values()):
            return
        if self.echo_hold:
            self.echo_hold = False
            if not self.bargein.paused:
                self.context.audio.resume()

    # --- Barge-in --------------------------------------------------------------

    def act(self, action: Action) -> None:
        audio = self.context.audio
        if action not in (Action.NONE, Action.IGNORE):
            logger.info("assistant %s: barge-in %s", self.context.session_id[:8], action.value)
        if action is Action.PAUSE:
            audio.pause()
        elif action is Action.RESUME:
            audio.resume()
        elif action is Action.INTERRUPT:
            self.interrupt()

    def interrupt(self) -> None:
        """Stop talking now: nothing more goes out, the answer is cancelled (its stream closed)."""
        self.context.audio.clear()
        self.echo_hold = False
        if self.answering is not None and not self.answering.done():
            self.answering.cancel()
        self.bargein.bot_stopped()
        if not self.unavailable:
            self.context.set_state(State.LISTENING)

    # --- Answering -------------------------------------------------------------

    def turn_finished(self, listener: Listener, turn: Turn) -> None:
        if self.conversation is None or self.profile_problem is not None:
            return
        person = self.context.participants.get(turn.session_id)
        name = person["name"] if person else "someone"
        item = self.conversation.heard(session_id=turn.session_id, name=name, text=turn.text)
        if item is None:
            return
        self.conversation_changed()
        if self.unavailable or self.leaving:
            return
        if not self.addressing.addressed(turn.text, bot_name=self.name, humans=self.humans()):
            logger.info("assistant %s: a turn of %s not addressed to it", self.context.session_id[:8],
                        turn.session_id[:8])
            return
        logger.info("assistant %s: answers a turn of %s, %.2f s after its speech ended",
                    self.context.session_id[:8], turn.session_id[:8], turn.decided_at - turn.speech_ended_at)
        if self.answering is not None and not self.answering.done():
            self.interrupt()
        timer = TurnTimer(bot_session_id=self.context.session_id, lobby_id=self.context.lobby_id,
                          profile=self.profile_id, speaker_session_id=turn.session_id,
                          speech_ended_at=turn.speech_ended_at)
        if listener.transcribed_at is not None:
            timer.mark("transcribed", at=listener.transcribed_at, provider=listener.stt_provider)
        timer.mark("decided", at=turn.decided_at)
        self.answering = self.spawn(self.answer(timer), "answer")

    def present(self) -> list[str]:
        return [p["name"] for p in self.context.participants.values()]

    async def answer(self, timer: TurnTimer) -> None:
        assert self.conversation is not None
        context = self.context
        context.set_state(State.THINKING)
        answer = Answer(router=self.router, conversation=self.conversation, instructions=self.instructions,
                        tools=self.tools, host=self.host, max_words=self.max_words, temperature=self.temperature,
                        present=self.present(), report=self.report_llm)
        playback = Playback(self.conversation.answer())
        interrupted = False
        error: str | None = None
        timer.mark("llm_requested")
        try:
            async for sentence in answer.sentences():
                if answer.first_token_at is not None:
                    timer.mark("llm_first_token", at=answer.first_token_at, provider=answer.provider)
                timer.mark("first_sentence")
                await self.speak(sentence, playback, timer)
            await self.played_out(playback.end)
        except LLMUnavailableError as exc:
            error = exc.code
            if not exc.partial:
                self.finish_turn(timer, answer, playback, interrupted=False, error=error)
                await self.go_unavailable(exc, UNAVAILABLE_WORDS)
                return
            context.report(exc, "answer")
            await self.played_out(playback.end)
        except SpeechUnavailableError as exc:
            error = exc.code
            self.finish_turn(timer, answer, playback, interrupted=False, error=error)
            await self.go_unavailable(exc, UNAVAILABLE_TTS_WORDS)
            return
        except asyncio.CancelledError:
            interrupted = True
            raise
        finally:
            await answer.aclose()
            if not playback.spoken.ended:
                self.finish_turn(timer, answer, playback, interrupted=interrupted, error=error)
        context.set_state(State.UNAVAILABLE if self.unavailable else State.LISTENING)
        if self.leaving:
            await context.leave()

    def finish_turn(self, timer: TurnTimer, answer: Answer, playback: Playback, *, interrupted: bool,
                    error: str | None) -> None:
        """The answer is over: keep what was heard, post it, measure the turn."""
        heard = playback.write(self.context.audio.shared_position, interrupted=interrupted)
        self.conversation_changed()
        if heard:
            self.spawn(self.context.say(heard, transcript_speaker=self.context.session_id), "transcript")
        metrics = timer.finish(llm_providers=answer.providers, fallback=answer.fallback, interrupted=interrupted,
                               cut=answer.cut, error=error)
        turn_observe(metrics)
        self.spawn(db_call(records.turn_store)(metrics=metrics.as_dict(), outcome=metrics.outcome), "turn_store")

    async def speak(self, sentence: str, playback: Playback | None, timer: TurnTimer | None = None) -> None:
        """Render one sentence and queue it for everyone; its place in the shared audio is kept."""
        audio = self.context.audio
        if timer is not None:
            timer.mark("tts_started")
        start = audio.shared_queued_position
        first = True
        async for chunk in tts_chain().synthesize(sentence, voice=self.voice):
            if first:
                first = False
                start = audio.shared_queued_position
                if timer is not None:
                    timer.mark("tts_first_audio", provider=tts_speaking.get())
                    self.spawn(self.audio_started(start, timer), "audio_started")
                self.context.set_state(State.SPEAKING)
            audio.play_all(chunk)
        self.said.append(sentence)
        if playback is not None:
            playback.add(sentence, start, audio.shared_queued_position)

    async def audio_started(self, position: float, timer: TurnTimer) -> None:
        """Marks the moment the answer's first audio goes out."""
        audio = self.context.audio
        while audio.shared_position < position + 0.02 - 1e-6:
            await asyncio.sleep(0.005)
        timer.mark("audio_started")

    async def played_out(self, position: float) -> None:
        """Until the shared audio played up to ``position`` (or was dropped)."""
        audio = self.context.audio
        while audio.shared_position + 1e-6 < position and (audio.queued() > 0 or self.bargein.paused):
            await asyncio.sleep(0.02)

    async def say_aloud(self, text: str, *, record: bool) -> None:
        """Say ``text`` (a greeting, a notice); with ``record`` it goes into the conversation as heard."""
        playback = Playback(self.conversation.answer()) if record and self.conversation is not None else None
        interrupted = False
        try:
            await self.speak(text, playback)
            await self.played_out(playback.end if playback else self.context.audio.shared_queued_position)
        except SpeechUnavailableError as exc:
            self.context.report(exc, "say")
        except asyncio.CancelledError:
            interrupted = True
            raise
        finally:
            if playback is not None:
                heard = playback.write(self.context.audio.shared_position, interrupted=interrupted)
                self.conversation_changed()
                if heard:
                    self.spawn(self.context.say(heard, transcript_speaker=self.context.session_id), "transcript")
            if not self.unavailable:
                self.context.set_state(State.LISTENING)

    # --- Failing and recovering -----------------------------------------------

    def report_llm(self, exc: BaseException) -> None:
        self.context.report(exc, "llm")

    async def go_unavailable(self, exc: BaseException, words: str) -> None:
        """No provider serves: say so (aloud while text to speech works, and in the chat), probe until one does."""
        if self.unavailable:
            return
        self.unavailable = True
        self.context.report(exc, "unavailable")
        self.context.set_state(State.UNAVAILABLE)
        await self.context.say(words)
        try:
            await self.speak(words, None)
        except SpeechUnavailableError:
            pass  # it cannot say it aloud: the chat line says it
        role = exc.role if isinstance(exc, SpeechUnavailableError) else "llm"
        probe = {"stt": stt_chain().probe, "tts": tts_chain().probe}.get(role, self.llm_probe)
        self.spawn(self.recover(probe, getattr(exc, "retry_after", None)), "recover")

    async def llm_probe(self) -> bool:
        return await self.router.probe()

    async def recover(self, probe: Any, retry_after: float | None) -> None:
        wait = max(0.5, float(retry_after or settings.VOICEBOT_RETRY_AFTER))
        while True:
            await asyncio.sleep(wait)
            if await probe():
                break
            wait = min(10.0, max(0.5, self.router.retry_after()))
        self.unavailable = False
        logger.info("assistant %s answers again", self.context.session_id[:8])
        self.context.set_state(State.LISTENING)
        await self.context.say(BACK_WORDS)

    # --- The stored conversation -----------------------------------------------

    async def conversation_load(self) -> Conversation:
        context = self.context
        fresh = Conversation(bot_session_id=context.session_id, bot_name=self.name, lobby_id=context.lobby_id,
                             budget_tokens=settings.VOICEBOT_LLM_CONTEXT_TOKENS)
        try:
            data = await db_call(records.conversation_load)(lobby_id=context.lobby_id,
                                                            bot_session_id=context.session_id)
        except DatabaseUnavailableError as exc:
            # The database is down: start afresh rather than stay deaf (what was stored is kept).
            context.report(exc, "conversation_load")
            return fresh
        if data is None:
            return fresh
        try:
            return Conversation.from_dict(data, budget_tokens=settings.VOICEBOT_LLM_CONTEXT_TOKENS)
        except ConversationDataError as exc:
            context.report(exc, "conversation_load")
            return fresh

    def conversation_changed(self) -> None:
        """Store the conversation soon: one write at a time, until the stored state is the newest."""
        self.dirty = True
        if self.saving is None or self.saving.done():
            self.saving = self.spawn(self.conversation_writes(), "conversation_store")

    async def conversation_writes(self) -> None:
        while self.dirty:
            await self.conversation_store()

    async def conversation_store(self) -> None:
        assert self.conversation is not None
        self.dirty = False
        await db_call(records.conversation_save)(
            lobby_id=self.context.lobby_id, bot_session_id=self.context.session_id, bot_name=self.name,
            profile_id=self.profile_id, data=self.conversation.to_dict())
