"""Piper and espeak-ng speak; text of every kind gets speech, nothing, or a typed error."""
from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
from django.conf import settings

from bots.speech.exceptions import ProviderError, SpeechInputError
from bots.speech.tts import EspeakTTS, PiperTTS
from bots.speech.tts.text import pieces, speakable
from bots.speech.vad import SileroVAD

from .conftest import to_16k, words
from .test_speech_vad import probabilities

needs_espeak = pytest.mark.skipif(EspeakTTS().unavailable_reason() is not None, reason="espeak-ng is not installed")


async def chunks_of(tts, text: str, **options) -> list[np.ndarray]:  # noqa: ANN001
    return [chunk async for chunk in tts.synthesize(text, **options)]


async def test_piper_speaks_sentence_by_sentence(piper: PiperTTS) -> None:
    chunks = await chunks_of(piper, "Good morning. The lobby is open. Welcome, everyone.")

    assert piper.sample_rate == 22_050
    assert len(chunks) == 3
    assert all(chunk.dtype == np.int16 and chunk.ndim == 1 and chunk.size > 2205 for chunk in chunks)


async def test_closing_the_stream_stops_piper_after_the_piece_in_progress(piper: PiperTTS) -> None:
    stream = piper.synthesize(" ".join(f"This is sentence number {n}." for n in range(40)))
    first = await anext(stream)
    started = time.perf_counter()

    await stream.aclose()

    assert first.size > 0 and time.perf_counter() - started < 0.5


@needs_espeak
async def test_espeak_speaks_words_whisper_recognises(whisper) -> None:  # noqa: ANN001
    espeak = EspeakTTS()

    chunks = await chunks_of(espeak, "Please remember to bring your umbrella tomorrow.")

    speech = np.concatenate(chunks)
    assert speech.size > espeak.sample_rate  # over a second of speech
    transcript = await whisper.transcribe(to_16k(speech, espeak.sample_rate), language="en")
    assert {"remember", "umbrella", "tomorrow"} <= words(transcript.text)


@needs_espeak
async def test_espeak_reads_text_that_looks_like_options_as_text() -> None:
    chunks = await chunks_of(EspeakTTS(), "--help -v xx --stdout")

    assert sum(chunk.size for chunk in chunks) > 10_000


@needs_espeak
async def test_an_unknown_espeak_voice_is_a_provider_failure() -> None:
    with pytest.raises(ProviderError, match="espeak-ng exited with 1"):
        await chunks_of(EspeakTTS(), "Hello.", voice="zz")


async def test_espeak_without_its_binary_says_how_to_install_it() -> None:
    espeak = EspeakTTS(binary="espeak-ng-not-installed")

    assert "apt-get install espeak-ng" in espeak.unavailable_reason()
    with pytest.raises(ProviderError, match="not installed"):
        await chunks_of(espeak, "Hello.")


@pytest.mark.parametrize("text", ["", "   \n\t ", "\x00\x00", "\ud800", "\u200b\u200d"])
async def test_text_with_nothing_to_say_yields_no_audio(piper: PiperTTS, text: str) -> None:
    assert await chunks_of(piper, text) == []


async def test_lone_surrogates_and_nul_are_dropped_and_the_rest_is_spoken(piper: PiperTTS) -> None:
    chunks = await chunks_of(piper, "Hello\x00 there\ud83d, friend\udfff.")

    speech = to_16k(np.concatenate(chunks), piper.sample_rate)
    assert (probabilities(SileroVAD(), speech) >= 0.5).sum() >= 10


async def test_emoji_and_other_scripts_do_not_break_piper(piper: PiperTTS) -> None:
    chunks = await chunks_of(piper, "Party time 🎉! Grüße, naïve café, 東京.")

    assert chunks and all(chunk.dtype == np.int16 for chunk in chunks)


@pytest.mark.parametrize(("text", "message"), [(None, "string"), (b"hello", "string"), (42, "string")])
async def test_text_that_is_not_a_string_is_a_typed_error(piper: PiperTTS, text: object, message: str) -> None:
    with pytest.raises(SpeechInputError, match=message):
        await chunks_of(piper, text)  # type: ignore[arg-type]


async def test_huge_text_is_refused_before_any_work(piper: PiperTTS) -> None:
    huge = "word " * 1_000_000
    started = time.perf_counter()

    with pytest.raises(SpeechInputError, match=f"limit is {settings.VOICEBOT_TTS_MAX_CHARS}"):
        await chunks_of(piper, huge)

    assert time.perf_counter() - started < 0.5


def test_speakable_keeps_the_words_and_drops_what_cannot_be_spoken() -> None:
    assert speakable("a\x00b\x1bc\u200bd\ud800e\r\nnext  line", max_chars=100) == "a b cde\nnext line"
    assert speakable("e\u0301", max_chars=10) == "\u00e9"  # NFC


def test_long_sentences_are_cut_at_a_comma_or_a_space() -> None:
    text = "First. " + ", ".join(["a clause of several words"] * 30) + ". Last!"

    result = pieces(text)

    assert result[0] == "First." and result[-1] == "Last!"
    assert all(0 < len(piece) <= 250 for piece in result)
    assert " ".join(result).replace("  ", " ") == text


async def test_two_callers_share_one_voice_at_once(piper: PiperTTS) -> None:
    first, second = await asyncio.gather(chunks_of(piper, "One, two, three."), chunks_of(piper, "Four, five."))

    assert first and second
