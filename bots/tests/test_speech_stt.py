"""faster-whisper recognises what Piper says; bad input gets a typed error or a defined answer."""
from __future__ import annotations

import numpy as np
import pytest

from bots.speech.exceptions import SpeechInputError
from bots.speech.stt import FasterWhisperSTT

from .conftest import SENTENCES, silence, words


async def test_whisper_recognises_the_words_piper_speaks(whisper: FasterWhisperSTT,
                                                         speech16k: dict[str, np.ndarray]) -> None:
    transcript = await whisper.transcribe(speech16k["fox"], language="en")

    assert transcript.provider == "faster_whisper" and transcript.language == "en"
    assert transcript.duration == pytest.approx(speech16k["fox"].size / 16_000)
    expected = words(SENTENCES["fox"])
    assert len(words(transcript.text) & expected) >= len(expected) - 1, transcript.text


async def test_a_region_tag_is_read_as_its_language(whisper: FasterWhisperSTT,
                                                    speech16k: dict[str, np.ndarray]) -> None:
    transcript = await whisper.transcribe(speech16k["umbrella"], language="en-US")

    assert transcript.language == "en"
    assert {"umbrella", "tomorrow"} <= words(transcript.text)


async def test_empty_audio_is_an_empty_transcript(whisper: FasterWhisperSTT) -> None:
    transcript = await whisper.transcribe(np.zeros(0, dtype=np.int16), language="en")

    assert (transcript.text, transcript.duration, transcript.provider) == ("", 0.0, "faster_whisper")


async def test_clipped_noise_gets_a_transcript_not_a_crash(whisper: FasterWhisperSTT) -> None:
    noise = np.random.default_rng(5).choice(np.array([-32768, 32767], dtype=np.int16), size=32_000)

    transcript = await whisper.transcribe(noise, language="en")

    assert isinstance(transcript.text, str)


@pytest.mark.parametrize(
    ("audio", "message"),
    [
        (np.zeros(16_000, dtype=np.float32), "int16"),
        (np.zeros((16_000, 2), dtype=np.int16), "mono"),
        ([0] * 16_000, "numpy array"),
        (silence(121), "at most 120 s"),
    ],
)
async def test_audio_of_the_wrong_kind_is_a_typed_error(whisper: FasterWhisperSTT, audio: object,
                                                        message: str) -> None:
    with pytest.raises(SpeechInputError, match=message) as caught:
        await whisper.transcribe(audio, language="en")  # type: ignore[arg-type]

    assert caught.value.code == "invalid_message"


@pytest.mark.parametrize("language", ["", "english please", 5, None, "e", "en\x00", "x" * 40])
async def test_a_bad_language_is_a_typed_error(whisper: FasterWhisperSTT, language: object) -> None:
    with pytest.raises(SpeechInputError, match="language"):
        await whisper.transcribe(silence(1), language=language)  # type: ignore[arg-type]


def test_the_english_model_says_it_understands_only_english(whisper: FasterWhisperSTT) -> None:
    assert whisper.supports_language("en") and not whisper.supports_language("de")


def test_a_missing_model_makes_the_provider_unavailable(tmp_path) -> None:  # noqa: ANN001
    reason = FasterWhisperSTT(tmp_path).unavailable_reason()

    assert reason is not None and str(tmp_path) in reason and "model.bin" in reason
