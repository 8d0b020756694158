"""What a voice over the bot's means: pause, stop for good, resume, or nothing.

"The bot is speaking" means its audio is still queued to play (text to
speech renders faster than real time, so the answer may be generated long
before it is heard); the caller says so at each event. The policy, after
LiveKit's (minimum interruption duration, resume after a false interruption)
and Pipecat's (minimum words):

- speech from a participant while the bot speaks ``PAUSE``\\s it at once (the
  segmenter reports speech after ``VOICEBOT_ASSISTANT_VAD_MIN_SPEECH``, 64 ms, so the bot falls silent
  within a fraction of a second), unless the caller's echo check says it is
  the bot's own voice coming back: then ``IGNORE`` (not even a pause);
- the interruption is confirmed, ``INTERRUPT`` (drop what is queued, cancel
  the rest of the answer at the provider, keep only what was heard), when the
  speech lasts ``min_interruption`` seconds, or when it ended sooner but its
  transcript has a word that is not a backchannel ("stop", "wait");
- it was false, ``RESUME`` (the paused audio plays on from where it
  stopped), when every speech over the bot ended short and its transcript is
  empty, only backchannels ("ok", "hmm", "uh-huh", "yeah") or the bot's own
  words (``echo=True``), or when no transcript came within
  ``false_interruption_timeout`` of the pause.

A backchannel or an echo is not a turn: ``transcript`` answers ``RESUME``
or ``IGNORE`` for it, and the caller drops it (``TurnDetector.discard``).
Pure logic on an injected clock: every call takes ``now``; ``poll(now)`` is
asked at ``deadline()``.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field

from django.conf import settings

from bots.assistant.turns.addressing import words_of

# Times compared on a float clock: this much early still counts as reached.
EPSILON = 1e-6

BACKCHANNELS = frozenset({
    "ok", "okay", "k", "hmm", "hm", "mm", "mmm", "mhm", "uh", "huh", "uhhuh", "um", "ah", "oh", "yeah", "yes",
    "yep", "yup", "right", "sure", "cool", "nice", "wow", "alright", "aha", "i", "see", "got", "it", "indeed",
    "true", "exactly", "great", "good", "fine", "mmhmm", "uhhuh", "really",
})


class Action(enum.Enum):
    NONE = "none"
    PAUSE = "pause"
    RESUME = "resume"
    INTERRUPT = "interrupt"
    IGNORE = "ignore"


def is_backchannel(text: str) -> bool:
    """Whether a transcript holds nothing but listening noises and words ("ok", "mm-hmm", "I see")."""
    return all(word in BACKCHANNELS for word in words_of(text))


@dataclass(frozen=True, slots=True)
class BargeInPolicy:
    min_interruption: float = 0.6
    false_interruption_timeout: float = 1.5

    @classmethod
    def from_settings(cls) -> BargeInPolicy:
        return cls(min_interruption=settings.VOICEBOT_ASSISTANT_MIN_INTERRUPTION,
                   false_interruption_timeout=settings.VOICEBOT_ASSISTANT_FALSE_INTERRUPTION_TIMEOUT)


@dataclass
class _Speech:
    started_at: float
    ended: bool = False
    # True once its transcript said it was nothing (a backchannel, the bot's words, silence).
    settled: bool = False


@dataclass
class BargeIn:
    """One bot's barge-in state, for every participant at once."""

    policy: BargeInPolicy = field(default_factory=BargeInPolicy)
    paused_at: float | None = None
    _speech: dict[str, _Speech] = field(default_factory=dict)

    @property
    def paused(self) -> bool:
        return self.paused_at is not None

    def speech_started(self, session_id: str, *, now: float, started_at: float, bot_speaking: bool,
                       echo: bool = False) -> Action:
        """``session_id`` began to speak at ``started_at`` (reported ``now``)."""
        if echo and bot_speaking:
            return Action.IGNORE
        if not bot_speaking and not self.paused:
            return Action.NONE
        self._speech[session_id] = _Speech(started_at=started_at)
        if now - started_at >= self.policy.min_interruption - EPSILON:
            return self._interrupt()
        if self.paused:
            return Action.NONE
        self.paused_at = now
        return Action.PAUSE

    def utterance_ended(self, session_id: str, *, now: float, duration: float) -> Action:
        """Their speech ended after ``duration`` seconds (its transcript follows)."""
        speech = self._speech.get(session_id)
        if speech is None:
            return Action.NONE
        speech.ended = True
        if duration >= self.policy.min_interruption - EPSILON:
            return self._interrupt()
        return Action.NONE

    def transcript(self, session_id: str, text: str, *, now: float, echo: bool = False) -> Action:
        """The transcript of their speech over the bot: a real interruption, or nothing (resume, ignore)."""
        speech = self._speech.get(session_id)
        if speech is None:
            return Action.NONE
        if not echo and not is_backchannel(text):
            return self._interrupt()
        speech.settled = True
        if self.paused and all(s.ended and s.settled for s in self._speech.values()):
            return self._resume()
        return Action.IGNORE

    def deadline(self) -> float | None:
        times = [speech.started_at + self.policy.min_interruption
                 for speech in self._speech.values() if not speech.ended]
        if self.paused_at is not None:
            times.append(self.paused_at + self.policy.false_interruption_timeout)
        return min(times) if times else None

    def poll(self, now: float) -> Action:
        if any(not speech.ended and now - speech.started_at >= self.policy.min_interruption - EPSILON
               for speech in self._speech.values()):
            return self._interrupt()
        if self.paused_at is not None and now - self.paused_at >= self.policy.false_interruption_timeout - EPSILON:
            if all(speech.ended for speech in self._speech.values()):
                return self._resume()
        return Action.NONE

    def bot_stopped(self) -> None:
        """The bot's audio ran out or was dropped: nothing is paused any more."""
        self.paused_at = None
        self._speech.clear()

    def _interrupt(self) -> Action:
        self.bot_stopped()
        return Action.INTERRUPT

    def _resume(self) -> Action:
        self.bot_stopped()
        return Action.RESUME
