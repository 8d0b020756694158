"""One participant's 16 kHz audio cut into utterances, with the events a bot acts on.

Feed it audio as it arrives (any chunk size); it runs the detector on each
32 ms window and returns what happened:

- ``SpeechStarted(at)`` once speech has lasted ``min_speech`` seconds (so a
  click or a cough never counts; ``at`` is when that speech began): the
  moment an assistant stops talking over someone (barge-in).
- ``UtteranceEnded(pcm16k, started_at, ended_at, final)`` after ``silence``
  seconds without speech: the audio from ``lead_in`` seconds before the
  speech began to the end of the silence. An utterance that reaches
  ``max_utterance`` seconds is cut there (``final=False``) and goes on in a
  new piece, so that a monologue is transcribed piece by piece and memory
  stays bounded; the piece that ends in silence is ``final``.

The thresholds follow silero's and OpenAI's server VAD: speech at a
probability of ``threshold`` (0.5), silence below ``threshold - 0.15``, in
between neither. Times are seconds of audio fed so far, so they are exact
whatever the machine's load.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from bots.speech.audio import SPEECH_RATE, check_pcm
from bots.speech.exceptions import SpeechInputError
from bots.speech.vad import VoiceActivityDetector

# Below threshold by this much, a window is silence (silero's hysteresis).
SILENCE_MARGIN = 0.15


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    at: float


@dataclass(frozen=True, slots=True)
class UtteranceEnded:
    pcm16k: np.ndarray = field(repr=False)
    started_at: float
    ended_at: float
    final: bool = True

    @property
    def duration(self) -> float:
        return self.pcm16k.size / SPEECH_RATE


SegmentEvent = SpeechStarted | UtteranceEnded

IDLE, PENDING, SPEAKING = "idle", "pending", "speaking"


class UtteranceSegmenter:
    def __init__(
        self,
        vad: VoiceActivityDetector,
        *,
        threshold: float = 0.5,
        lead_in: float = 0.3,
        silence: float = 0.5,
        min_speech: float = 0.25,
        max_utterance: float = 15.0,
    ) -> None:
        if not 0.0 < threshold < 1.0:
            raise SpeechInputError(f"The speech threshold must be between 0 and 1, not {threshold!r}.")
        if min(lead_in, silence, min_speech) < 0 or max_utterance <= max(lead_in + min_speech, 1.0):
            raise SpeechInputError("Lead-in, silence and minimum speech must be 0 or more, and the maximum "
                                   "utterance longer than lead-in plus minimum speech (and than 1 s).")
        self.vad = vad
        self.threshold = threshold
        self.silence_threshold = max(0.01, threshold - SILENCE_MARGIN)
        self.window = vad.window_samples
        seconds = self.window / SPEECH_RATE
        self.lead_in_windows = math.ceil(lead_in / seconds)
        self.silence_windows = max(1, math.ceil(silence / seconds))
        self.min_speech_windows = max(1, math.ceil(min_speech / seconds))
        self.max_windows = max(self.lead_in_windows + self.min_speech_windows + 1, int(max_utterance / seconds))
        self._pending = np.zeros(0, dtype=np.int16)
        self.reset()

    def reset(self) -> None:
        """Back to silence, forgetting any speech in progress and the detector's state."""
        self.vad.reset()
        self._pending = np.zeros(0, dtype=np.int16)
        self._windows_seen = 0
        self._state = IDLE
        self._lead_in: deque[np.ndarray] = deque(maxlen=self.lead_in_windows or 1)
        self._piece: list[np.ndarray] = []
        self._piece_start = 0  # window index of the piece's first window
        self._speech_start = 0  # window index where the speech began
        self._voiced = 0
        self._silent_run = 0
        self._last_voiced_end = 0

    @property
    def speaking(self) -> bool:
        """Whether speech is in progress (after ``SpeechStarted``, before the final ``UtteranceEnded``)."""
        return self._state == SPEAKING

    @property
    def buffered_seconds(self) -> float:
        """Seconds of audio held (the piece in progress, the lead-in, a partial window): at most ``max_utterance``."""
        windows = len(self._piece) + len(self._lead_in)
        return round((windows * self.window + self._pending.size) / SPEECH_RATE, 3)

    def feed(self, samples16k: np.ndarray) -> list[SegmentEvent]:
        samples = check_pcm(samples16k)
        if samples.size == 0:
            return []
        events: list[SegmentEvent] = []
        data = np.concatenate([self._pending, samples]) if self._pending.size else samples
        whole = data.size - data.size % self.window
        for start in range(0, whole, self.window):
            window = data[start:start + self.window]
            self._step(window, self.vad.speech_probability(window), events)
        self._pending = data[whole:].copy()
        return events

    def flush(self) -> list[SegmentEvent]:
        """The stream ended (the participant left): the speech in progress as a final utterance."""
        events: list[SegmentEvent] = []
        if self._state == SPEAKING and self._piece:
            events.append(self._end_piece(final=True))
        self.reset()
        return events

    # --- The state machine, one window at a time --------------------------

    def _step(self, window: np.ndarray, probability: float, events: list[SegmentEvent]) -> None:
        index = self._windows_seen
        self._windows_seen += 1
        voiced = probability >= self.threshold
        if voiced:
            self._silent_run = 0
            self._last_voiced_end = index + 1
        elif probability < self.silence_threshold or self._silent_run:
            self._silent_run += 1

        if self._state == IDLE:
            if not voiced:
                self._lead_in.append(window)
                return
            self._state = PENDING
            self._piece = list(self._lead_in) if self.lead_in_windows else []
            self._piece_start = index - len(self._piece)
            self._speech_start = index
            self._voiced = 0
            self._lead_in.clear()

        self._piece.append(window)
        if voiced:
            self._voiced += 1
        if self._state == PENDING:
            if self._voiced >= self.min_speech_windows:
                self._state = SPEAKING
                events.append(SpeechStarted(at=self._seconds(self._speech_start)))
            elif self._silent_run >= self.silence_windows:
                self._back_to_idle()
                return
        if self._state != SPEAKING:
            return
        if self._silent_run >= self.silence_windows:
            events.append(self._end_piece(final=True))
            self._back_to_idle()
        elif len(self._piece) >= self.max_windows:
            events.append(self._end_piece(final=False))
            self._piece = []
            self._piece_start = index + 1

    def _end_piece(self, *, final: bool) -> UtteranceEnded:
        start = self._piece_start
        end = start + len(self._piece)
        spoken_end = min(end, self._last_voiced_end) if final else end
        return UtteranceEnded(
            pcm16k=np.concatenate(self._piece),
            started_at=self._seconds(max(start, self._speech_start)),
            ended_at=self._seconds(max(spoken_end, start)),
            final=final,
        )

    def _back_to_idle(self) -> None:
        # The trailing windows (silence) become the lead-in of what comes next.
        tail = self._piece[-self.lead_in_windows:] if self.lead_in_windows else []
        self._state = IDLE
        self._piece = []
        self._voiced = 0
        self._lead_in.clear()
        self._lead_in.extend(tail)

    def _seconds(self, window_index: int) -> float:
        return round(window_index * self.window / SPEECH_RATE, 3)
