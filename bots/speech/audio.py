"""Audio between WebRTC and the speech models, converted with PyAV's resampler.

WebRTC audio arrives as ``av.AudioFrame`` s (aiortc decodes Opus to 48 kHz
stereo s16) and leaves as 20 ms frames at 48 kHz. Voice activity detection and
speech to text want 16 kHz mono int16; text to speech renders at its voice's
rate (Piper 22.05 kHz). Every array here is a 1-D ``numpy.int16`` array of
mono samples.
"""
from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction

import av
import numpy as np

from bots.speech.exceptions import SpeechInputError

WEBRTC_RATE = 48_000
SPEECH_RATE = 16_000
FRAME_SECONDS = 0.02
FRAME_SAMPLES = int(WEBRTC_RATE * FRAME_SECONDS)  # 960 samples: one 20 ms frame at 48 kHz
TIME_BASE = Fraction(1, WEBRTC_RATE)


def check_pcm(samples: object, *, what: str = "audio") -> np.ndarray:
    """``samples`` as a 1-D int16 array, or SpeechInputError saying what is wrong with it."""
    if not isinstance(samples, np.ndarray):
        raise SpeechInputError(f"The {what} must be a numpy array of int16 samples, not {type(samples).__name__}.")
    if samples.dtype != np.int16:
        raise SpeechInputError(f"The {what} must hold int16 samples, not {samples.dtype}.")
    if samples.ndim != 1:
        raise SpeechInputError(f"The {what} must be mono (a 1-D array), not of shape {samples.shape}.")
    return samples


def pcm_frame(samples: np.ndarray, rate: int) -> av.AudioFrame:
    """A mono s16 ``av.AudioFrame`` holding ``samples`` at ``rate``."""
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples).reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = rate
    return frame


def _samples_of(frames: list[av.AudioFrame]) -> np.ndarray:
    if not frames:
        return np.zeros(0, dtype=np.int16)
    return np.concatenate([frame.to_ndarray().reshape(-1) for frame in frames])


class Resampler16kMono:
    """One incoming track's audio as 16 kHz mono int16, frame by frame.

    Keep one per track: the resampler carries its filter state from frame to
    frame. A track whose format, layout or rate changes midway gets a fresh
    resampler (PyAV refuses a frame that does not match its setup).
    """

    def __init__(self) -> None:
        self._resampler: av.AudioResampler | None = None
        self._setup: tuple[str, str, int] | None = None

    def convert(self, frame: av.AudioFrame) -> np.ndarray:
        if not isinstance(frame, av.AudioFrame):
            raise SpeechInputError(f"Expected an av.AudioFrame, not {type(frame).__name__}.")
        setup = (frame.format.name, frame.layout.name, frame.sample_rate)
        if setup != self._setup:
            self._resampler = av.AudioResampler(format="s16", layout="mono", rate=SPEECH_RATE)
            self._setup = setup
        # PyAV derives output timestamps from input ones; frames without any are fine.
        return _samples_of(self._resampler.resample(frame))

    def flush(self) -> np.ndarray:
        """What the resampler still holds, at the end of the track."""
        if self._resampler is None:
            return np.zeros(0, dtype=np.int16)
        samples = _samples_of(self._resampler.resample(None))
        self._resampler = self._setup = None
        return samples


class PcmResampler:
    """A stream of int16 mono chunks from one rate to another (e.g. 22.05 kHz speech to 48 kHz)."""

    def __init__(self, rate_in: int, rate_out: int) -> None:
        self.rate_in = rate_in
        self.rate_out = rate_out
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=rate_out)

    def push(self, samples: np.ndarray) -> np.ndarray:
        samples = check_pcm(samples)
        if samples.size == 0:
            return samples
        if self.rate_in == self.rate_out:
            return samples
        return _samples_of(self._resampler.resample(pcm_frame(samples, self.rate_in)))

    def flush(self) -> np.ndarray:
        if self.rate_in == self.rate_out:
            return np.zeros(0, dtype=np.int16)
        samples = _samples_of(self._resampler.resample(None))
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=self.rate_out)
        return samples


class FramePacker:
    """Speech at any rate into 20 ms 48 kHz mono s16 frames, ready for an aiortc track.

    ``push`` returns the whole frames it can make so far; ``flush`` ends the
    stream, the last frame padded with silence. Frames carry consecutive
    ``pts`` in a 1/48000 time base, counted from the first frame of this packer.
    """

    def __init__(self, rate: int) -> None:
        if not isinstance(rate, int) or rate <= 0:
            raise SpeechInputError(f"The sample rate must be a positive whole number, not {rate!r}.")
        self.rate = rate
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=WEBRTC_RATE, frame_size=FRAME_SAMPLES)
        self._pts = 0

    def push(self, samples: np.ndarray) -> list[av.AudioFrame]:
        samples = check_pcm(samples)
        if samples.size == 0:
            return []
        return self._stamp(self._resampler.resample(pcm_frame(samples, self.rate)))

    def flush(self) -> list[av.AudioFrame]:
        frames = self._resampler.resample(None)
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=WEBRTC_RATE, frame_size=FRAME_SAMPLES)
        if frames and frames[-1].samples < FRAME_SAMPLES:
            last = _samples_of([frames[-1]])
            frames[-1] = pcm_frame(np.concatenate([last, np.zeros(FRAME_SAMPLES - last.size, np.int16)]), WEBRTC_RATE)
        return self._stamp(frames)

    def _stamp(self, frames: list[av.AudioFrame]) -> list[av.AudioFrame]:
        for frame in frames:
            frame.pts = self._pts
            frame.time_base = TIME_BASE
            self._pts += frame.samples
        return frames


def frames_48k(samples: np.ndarray, rate: int) -> Iterator[av.AudioFrame]:
    """All of ``samples`` (at ``rate``) as 20 ms 48 kHz frames, the last one padded with silence."""
    packer = FramePacker(rate)
    yield from packer.push(samples)
    yield from packer.flush()


def to_float32(samples: np.ndarray) -> np.ndarray:
    """int16 samples as float32 in [-1, 1), the models' input."""
    return samples.astype(np.float32) / 32768.0
