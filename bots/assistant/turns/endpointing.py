"""When a participant has finished their turn: the segmenter's events plus an endpointing delay.

LiveKit's endpointing: after speech ends, wait at least ``min_delay``; when
what was said sounds unfinished (no closing punctuation, or it ends on "and",
"so", "um"...), wait up to ``max_delay`` for the speaker to go on. Both are
counted from the end of the speech (``UtteranceEnded.ended_at``), so the
segmenter's own silence is part of them, and so is the time speech to text
takes: a turn is never decided before its transcript is in. Speech that
starts again before the turn is decided belongs to the same turn.

Pure logic on an injected clock: the caller passes every time (its own
monotonic clock; the segmenter's audio seconds converted to it) and asks
``poll(now)`` at ``deadline()``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.conf import settings

# A sentence that ends on one of these words is likely to go on.
UNFINISHED = frozenset({
    "and", "but", "or", "so", "because", "um", "uh", "erm", "er", "hmm", "the", "a", "an", "to", "of", "with",
    "if", "then", "like", "which", "that", "is", "are", "my", "your", "for", "in", "on", "at", "about", "what",
})
_LAST_WORD = re.compile(r"([\w']+)\W*$")


def sounds_finished(text: str) -> bool:
    """Whether a transcript sounds like a whole turn (closing punctuation, no dangling word)."""
    text = text.strip()
    if not text or text.endswith(("...", "…", ",", "-", "—")):
        return False
    if text[-1] not in ".!?。！？\"'”":
        return False
    match = _LAST_WORD.search(text)
    return not (match and match.group(1).lower() in UNFINISHED)


@dataclass(frozen=True, slots=True)
class Endpointing:
    min_delay: float = 0.5
    max_delay: float = 3.0

    @classmethod
    def from_settings(cls) -> Endpointing:
        return cls(min_delay=settings.VOICEBOT_ASSISTANT_ENDPOINTING_MIN,
                   max_delay=settings.VOICEBOT_ASSISTANT_ENDPOINTING_MAX)


@dataclass(frozen=True, slots=True)
class Turn:
    """A participant's finished turn: all they said, when their speech began and ended, when it was decided."""

    session_id: str
    text: str
    started_at: float
    speech_ended_at: float
    decided_at: float


@dataclass
class TurnDetector:
    """One participant's turns."""

    session_id: str
    endpointing: Endpointing = field(default_factory=Endpointing)
    speaking: bool = False
    _parts: list[str] = field(default_factory=list)
    _pending: int = 0  # utterances ended, their transcripts not in yet
    _started_at: float | None = None
    _ended_at: float | None = None

    def speech_started(self, at: float) -> None:
        self.speaking = True
        if self._started_at is None:
            self._started_at = at

    def utterance_ended(self, *, speech_ended_at: float, final: bool = True) -> None:
        """An utterance (or a piece of a long one) ended; its transcript follows with ``transcript``."""
        self._pending += 1
        if final:
            self.speaking = False
            self._ended_at = speech_ended_at

    def transcript(self, text: str) -> None:
        self._pending = max(0, self._pending - 1)
        text = " ".join(text.split())
        if text:
            self._parts.append(text)

    def discard(self) -> None:
        """Forget the turn in progress (it was an "ok" over the bot, or the bot's own echo)."""
        self._parts.clear()
        self._started_at = self._ended_at = None

    @property
    def text(self) -> str:
        return " ".join(self._parts)

    def deadline(self) -> float | None:
        """When the turn will be decided if nothing else happens (None: not before another event)."""
        if self.speaking or self._pending or not self._parts or self._ended_at is None:
            return None
        delay = self.endpointing.min_delay if sounds_finished(self.text) else self.endpointing.max_delay
        return self._ended_at + delay

    def poll(self, now: float) -> Turn | None:
        deadline = self.deadline()
        if deadline is None or now < deadline:
            return None
        assert self._ended_at is not None
        turn = Turn(self.session_id, self.text, self._started_at if self._started_at is not None else self._ended_at,
                    self._ended_at, now)
        self.discard()
        return turn
