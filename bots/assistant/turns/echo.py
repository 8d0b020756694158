"""Whether what a participant's microphone sends is the bot's own voice coming back (no echo cancellation there).

Two checks, one on the signal and one on the words:

- ``EchoDetector`` keeps, for one participant, the loudness envelope (dB per
  20 ms frame) of the bot's audio sent to them and of the audio they send.
  Their voice while the bot plays is the bot's echo when its envelope follows
  the bot's, delayed by at most ``max_lag`` (the round trip and the device's
  buffers) and scaled by the room: the Pearson correlation of the two
  envelopes (each within 30 dB of its loudest frame), best over the lags, is
  at least ``threshold``. Measured on Piper speech: an echo 10 to 22 dB down
  and 0 to 0.35 s late scores 0.9 to 1.0, another sentence spoken over the
  bot 0.0 to 0.15. A person talking
  over the bot follows their own syllables, not the bot's, and scores low.
  It decides at speech-started time, before any transcript exists, so that
  echo never even pauses the bot.
- ``transcript_is_echo`` compares a transcript with what the bot was saying:
  when most of its words are the bot's words, in order, it is echo (a
  second chance for echo the envelope missed, e.g. in a noisy room).
"""
from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from difflib import SequenceMatcher

import numpy as np

from bots.assistant.turns.addressing import words_of

FRAME_SECONDS = 0.02
# Each envelope is compared over this many dB below its loudest frame: quieter is all "silence" (a
# digital zero and a room's noise floor alike), so that noise cannot decide the score.
DYNAMIC_RANGE = 30.0


def _envelope(pcm: np.ndarray, rate: int) -> np.ndarray:
    """dB per 20 ms frame of int16 audio (a partial last frame dropped)."""
    size = int(rate * FRAME_SECONDS)
    frames = pcm.size // size
    if frames == 0:
        return np.zeros(0)
    blocks = pcm[:frames * size].astype(np.float64).reshape(frames, size)
    return 10.0 * np.log10(np.mean(blocks * blocks, axis=1) + 1.0)


class EchoDetector:
    def __init__(self, *, max_lag: float = 0.5, history: float = 6.0, threshold: float = 0.7,
                 min_seconds: float = 0.2) -> None:
        self.max_lag_frames = int(round(max_lag / FRAME_SECONDS))
        self.threshold = threshold
        self.min_frames = max(2, int(round(min_seconds / FRAME_SECONDS)))
        length = int(round(history / FRAME_SECONDS))
        # (frame slot on the caller's clock, dB)
        self._played: deque[tuple[int, float]] = deque(maxlen=length)
        self._heard: deque[tuple[int, float]] = deque(maxlen=length)

    @staticmethod
    def _slot(at: float) -> int:
        return int(round(at / FRAME_SECONDS))

    def _add(self, target: deque[tuple[int, float]], pcm: np.ndarray, rate: int, at: float) -> None:
        first = self._slot(at)
        for offset, level in enumerate(_envelope(pcm, rate)):
            target.append((first + offset, float(level)))

    def played(self, pcm: np.ndarray, *, at: float, rate: int = 48_000) -> None:
        """The bot's audio to this participant, whose first sample went out at ``at``."""
        self._add(self._played, pcm, rate, at)

    def heard(self, pcm: np.ndarray, *, at: float, rate: int = 48_000) -> None:
        """This participant's audio, whose first sample arrived at ``at``."""
        self._add(self._heard, pcm, rate, at)

    def score(self, start: float, end: float) -> float:
        """How well the participant's audio from ``start`` to ``end`` follows the bot's (-1 to 1; 0 without data)."""
        first, last = self._slot(start), self._slot(end)
        heard = {slot: level for slot, level in self._heard if first <= slot <= last}
        if len(heard) < self.min_frames or not self._played:
            return 0.0
        slots = np.array(sorted(heard))
        values = np.array([heard[slot] for slot in slots])
        played = dict(self._played)
        floor = min(played.values())
        values = np.maximum(values, values.max() - DYNAMIC_RANGE)
        best = 0.0
        for lag in range(self.max_lag_frames + 1):
            reference = np.array([played.get(int(slot) - lag, floor) for slot in slots])
            reference = np.maximum(reference, reference.max() - DYNAMIC_RANGE)
            if values.std() < 1e-6 or reference.std() < 1e-6:
                continue
            best = max(best, float(np.corrcoef(values, reference)[0, 1]))
        return best

    def is_echo(self, start: float, end: float) -> bool:
        return self.score(start, end) >= self.threshold


def transcript_is_echo(transcript: str, played: Iterable[str], *, threshold: float = 0.6) -> bool:
    """Whether most words of ``transcript`` are, in order, words the bot was saying."""
    words = words_of(transcript)
    if not words:
        return False
    said = words_of(" ".join(played))
    matcher = SequenceMatcher(None, said, words, autojunk=False)
    matched = sum(block.size for block in matcher.get_matching_blocks())
    return matched / len(words) >= threshold
