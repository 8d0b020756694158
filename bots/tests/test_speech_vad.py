"""Silero VAD: speech in Piper's audio, none in silence, white noise or clipped noise."""
from __future__ import annotations

import numpy as np
import pytest

from bots.speech.exceptions import SpeechInputError
from bots.speech.vad import SileroVAD

from .conftest import WITHOUT_SPEECH, silence


def probabilities(vad: SileroVAD, samples: np.ndarray) -> np.ndarray:
    size = vad.window_samples
    return np.array([vad.speech_probability(samples[start:start + size])
                     for start in range(0, samples.size - size + 1, size)])


def test_silero_finds_the_speech_in_piper_audio(speech16k: dict[str, np.ndarray]) -> None:
    vad = SileroVAD()

    speech = probabilities(vad, speech16k["fox"])

    assert vad.window_samples == 512
    assert (speech >= 0.5).mean() > 0.5  # most of a spoken sentence is speech


@WITHOUT_SPEECH
def test_ten_seconds_without_speech_are_never_speech(make) -> None:  # noqa: ANN001
    samples = make(np.random.default_rng(3))

    assert probabilities(SileroVAD(), samples).max() < 0.5


def test_reset_forgets_the_stream(speech16k: dict[str, np.ndarray]) -> None:
    vad = SileroVAD()
    window = speech16k["fox"][8000:8512].copy()
    fresh = vad.speech_probability(window)
    probabilities(vad, speech16k["umbrella"])

    vad.reset()

    assert vad.speech_probability(window) == pytest.approx(fresh, abs=1e-6)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (np.zeros(511, dtype=np.int16), "512 samples"),
        (np.zeros(512, dtype=np.float32), "int16"),
        (np.zeros((2, 256), dtype=np.int16), "mono"),
        (b"\x00" * 1024, "numpy array"),
    ],
)
def test_a_bad_window_is_a_typed_error(bad: object, message: str) -> None:
    with pytest.raises(SpeechInputError, match=message):
        SileroVAD().speech_probability(bad)  # type: ignore[arg-type]
