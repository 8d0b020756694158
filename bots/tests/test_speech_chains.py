"""Failover: a provider that raises, hangs or answers garbage makes the next one serve; all down is a
typed error; recovery comes by itself once a provider answers. Through the real circuit breakers."""
from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from bots.speech.chains import SpeechToTextChain, TextToSpeechChain, VoiceActivityChain, tts_speaking
from bots.speech.exceptions import SpeechInputError, SpeechUnavailableError
from bots.speech.guard import dependency
from bots.speech.tts import EspeakTTS
from bots.speech.vad import SileroVAD, VoiceActivityDetector

from .conftest import silence, words
from .doubles import BrokenSTT, BrokenTTS, GarbageSTT, GarbageTTS, HangingSTT, HangingTTS, StallingTTS

# Deadlines a real model meets on a busy two-core machine; a hanging double costs one of them.
STT_DEADLINE = 4.0
TTS_DEADLINE = 3.0


class Counts:
    """How many failures and successes each named breaker records from now on."""

    def __init__(self, *names: str) -> None:
        self.start = {name: self._now(name) for name in names}

    @staticmethod
    def _now(name: str) -> tuple[int, int]:
        breaker = dependency(name).breaker
        return breaker.failures_total, breaker.successes_total

    def failures(self, name: str) -> int:
        return self._now(name)[0] - self.start[name][0]

    def successes(self, name: str) -> int:
        return self._now(name)[1] - self.start[name][1]



async def spoken(chain: TextToSpeechChain, text: str) -> np.ndarray:
    return np.concatenate([chunk async for chunk in chain.synthesize(text)])


# --- Speech to text -----------------------------------------------------------


@pytest.mark.parametrize("failing", [BrokenSTT, HangingSTT, GarbageSTT], ids=["raises", "hangs", "garbage"])
async def test_a_failing_stt_provider_makes_the_next_one_serve(failing, whisper, speech16k) -> None:  # noqa: ANN001
    chain = SpeechToTextChain([failing(), whisper], timeout=STT_DEADLINE)
    counts = Counts(f"stt.{failing.name}", "stt.faster_whisper")
    started = time.perf_counter()

    transcript = await chain.transcribe(speech16k["meeting"], language="en")

    assert transcript.provider == "faster_whisper"
    assert {"meeting", "noon"} <= words(transcript.text)
    assert time.perf_counter() - started < 2 * STT_DEADLINE  # a hang costs the deadline, not an hour
    assert counts.failures(f"stt.{failing.name}") == 1
    assert counts.successes("stt.faster_whisper") == 1


async def test_every_stt_provider_down_is_a_typed_error_naming_each(caplog) -> None:  # noqa: ANN001
    chain = SpeechToTextChain([BrokenSTT(), HangingSTT(), GarbageSTT()], timeout=0.2)

    with pytest.raises(SpeechUnavailableError) as caught:
        await chain.transcribe(silence(1), language="en")

    error = caught.value
    assert (error.code, error.category, error.recovery, error.http_status) == ("bot_unavailable", "bot", "retry", 503)
    assert error.role == "stt" and not error.partial
    assert error.context["providers"] == [
        {"provider": "broken_stt", "reason": "failed with ConnectionResetError"},
        {"provider": "hanging_stt", "reason": "no answer within 0.2 s"},
        {"provider": "garbage_stt", "reason": "the provider answered something that is not a transcript"},
    ]
    assert "stt provider hanging_stt failed: no answer within 0.2 s" in caplog.text


async def test_stt_recovers_by_itself_once_a_provider_answers(fast_breakers) -> None:  # noqa: ANN001
    broken = BrokenSTT()
    chain = SpeechToTextChain([broken], timeout=1.0)
    for _ in range(2):
        with pytest.raises(SpeechUnavailableError):
            await chain.transcribe(silence(1), language="en")

    # The breaker is open: the provider is not called, the error says when to try again.
    with pytest.raises(SpeechUnavailableError) as caught:
        await chain.transcribe(silence(1), language="en")
    assert broken.calls == 2
    assert caught.value.context["providers"][0]["reason"].startswith("circuit open, retry in")
    assert 0 < caught.value.retry_after <= 0.5
    health = chain.health()
    assert not health.available and health.providers[0].state == "open"
    assert not await chain.probe()

    broken.broken = False
    await asyncio.sleep(0.35)
    assert chain.health().available  # half-open: a trial may go through

    assert await chain.probe()
    assert chain.health().providers[0].state == "closed"
    transcript = await chain.transcribe(silence(1), language="en")
    assert transcript.text == "repaired"


async def test_a_provider_that_does_not_understand_the_language_is_passed_over(whisper) -> None:  # noqa: ANN001
    broken = BrokenSTT()
    chain = SpeechToTextChain([whisper, broken], timeout=1.0)
    broken.broken = False

    transcript = await chain.transcribe(silence(1), language="de")

    assert transcript.provider == "broken_stt"
    with pytest.raises(SpeechUnavailableError) as caught:
        await SpeechToTextChain([whisper], timeout=1.0).transcribe(silence(1), language="de")
    assert caught.value.failures[0].reason == "does not understand language 'de'"


async def test_bad_input_is_the_callers_error_and_no_provider_is_blamed() -> None:
    broken = BrokenSTT()
    chain = SpeechToTextChain([broken], timeout=1.0)
    counts = Counts("stt.broken_stt")

    with pytest.raises(SpeechInputError):
        await chain.transcribe(np.zeros(100, dtype=np.float32), language="en")  # type: ignore[arg-type]

    assert broken.calls == 0
    assert counts.failures("stt.broken_stt") == 0


# --- Text to speech -----------------------------------------------------------


@pytest.mark.parametrize("failing", [BrokenTTS, HangingTTS, GarbageTTS], ids=["raises", "hangs", "garbage"])
async def test_a_failing_tts_provider_makes_the_next_one_serve(failing, piper, whisper) -> None:  # noqa: ANN001
    chain = TextToSpeechChain([failing(), piper], timeout=TTS_DEADLINE)
    counts = Counts(f"tts.{failing.name}")

    speech = await spoken(chain, "The meeting starts at noon.")

    assert tts_speaking.get() == "piper"  # who spoke, for the reader's record of the turn
    assert chain.sample_rate == 48_000
    assert speech.size > 48_000  # over a second, at 48 kHz
    assert counts.failures(f"tts.{failing.name}") == 1
    transcript = await whisper.transcribe(speech[::3].copy(), language="en")  # 48 kHz to 16 kHz
    assert {"meeting", "noon"} <= words(transcript.text)


async def test_a_provider_that_dies_after_its_first_chunk_ends_the_stream(piper) -> None:  # noqa: ANN001
    chain = TextToSpeechChain([StallingTTS(), piper], timeout=0.3)
    counts = Counts("tts.stalling_tts", "tts.piper")
    received = []

    with pytest.raises(SpeechUnavailableError) as caught:
        async for chunk in chain.synthesize("Hello there."):
            received.append(chunk)

    # What went out is never spoken again by another provider.
    assert len(received) == 1
    assert caught.value.partial and caught.value.failures[0].provider == "stalling_tts"
    assert counts.failures("tts.stalling_tts") == 1
    assert counts.successes("tts.piper") == 0


async def test_every_tts_provider_down_is_a_typed_error_and_recovers(fast_breakers) -> None:  # noqa: ANN001
    broken = BrokenTTS()
    missing = EspeakTTS(binary="espeak-ng-not-installed")
    chain = TextToSpeechChain([broken, missing], timeout=0.5)

    with pytest.raises(SpeechUnavailableError) as caught:
        await spoken(chain, "Hello.")
    assert [failure.provider for failure in caught.value.failures] == ["broken_tts", "espeak"]
    assert "apt-get install espeak-ng" in caught.value.failures[1].reason
    assert [provider.state for provider in chain.health().providers] == ["closed", "unavailable"]

    with pytest.raises(SpeechUnavailableError):
        await spoken(chain, "Hello.")
    assert not chain.health().available and not await chain.probe()

    broken.broken = False
    await asyncio.sleep(0.35)
    assert await chain.probe()
    assert chain.health().providers[0].state == "closed"
    assert (await spoken(chain, "Hello.")).size > 0


async def test_text_with_nothing_to_say_gives_no_audio_and_no_failure(piper) -> None:  # noqa: ANN001
    chain = TextToSpeechChain([piper], timeout=TTS_DEADLINE)
    counts = Counts("tts.piper")

    assert [chunk async for chunk in chain.synthesize("\x00 \ud800 ...")] == []
    assert counts.failures("tts.piper") == 0


async def test_a_consumer_that_stops_listening_is_not_a_failure(piper) -> None:  # noqa: ANN001
    chain = TextToSpeechChain([piper], timeout=TTS_DEADLINE)
    counts = Counts("tts.piper")
    stream = chain.synthesize("One sentence. Another sentence. And a third one.")
    await anext(stream)

    await stream.aclose()

    assert counts.failures("tts.piper") == 0
    assert counts.successes("tts.piper") == 1


async def test_two_providers_with_one_name_are_refused(piper) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match="share a name"):
        TextToSpeechChain([piper, piper], timeout=1.0)


# --- Voice activity -----------------------------------------------------------


class UnloadableVAD(VoiceActivityDetector):
    name = "unloadable"

    def __init__(self) -> None:
        raise OSError("model file is corrupt")

    def _probability(self, window: np.ndarray) -> float:
        raise AssertionError("unreachable")


class NonsenseVAD(SileroVAD):
    name = "nonsense"

    def _probability(self, window: np.ndarray) -> float:
        return 7.0


async def test_each_participant_gets_a_detector_from_the_first_provider_that_loads() -> None:
    chain = VoiceActivityChain([UnloadableVAD, NonsenseVAD, SileroVAD], timeout=5.0)
    counts = Counts("vad.unloadable", "vad.nonsense")

    first, second = await chain.create(), await chain.create()

    assert isinstance(first, SileroVAD) and first is not second
    assert counts.failures("vad.unloadable") == 2
    assert counts.failures("vad.nonsense") == 2


async def test_no_detector_at_all_is_a_typed_error() -> None:
    with pytest.raises(SpeechUnavailableError) as caught:
        await VoiceActivityChain([UnloadableVAD], timeout=5.0).create()

    assert caught.value.role == "vad"
    assert caught.value.failures[0].reason == "failed with OSError"
