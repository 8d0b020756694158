"""The OpenAI-compatible providers against a real local HTTP server: answers, 500s, hangs, garbage.

The API key comes from the environment variable that settings name; it must
reach the server and nothing else: no log line, no error, no stored context.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator

import numpy as np
import pytest

from bots.speech.chains import SpeechToTextChain, TextToSpeechChain
from bots.speech.exceptions import ProviderError, SpeechUnavailableError
from bots.speech.stt import OpenAISTT
from bots.speech.tts import OpenAITTS
from bots.speech.wav import wav_encode

from .conftest import silence, words
from .speech_server import Answer, SpeechServer, json_answer

KEY = "sk-test-9f8e7d6c5b4a39281706f5e4d3c2b1a0"
KEY_ENV = "VOICEBOT_TEST_SPEECH_KEY"
TRANSCRIPTIONS = "/v1/audio/transcriptions"
SPEECH = "/v1/audio/speech"


@pytest.fixture
def server() -> Iterator[SpeechServer]:
    server = SpeechServer().start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def key_in_environment(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """The key is set, every logger records at DEBUG, and no record may hold the key."""
    monkeypatch.setenv(KEY_ENV, KEY)
    caplog.set_level(logging.DEBUG)
    for name in ("openai", "httpx", "httpx2", "httpcore", "httpcore2"):
        caplog.set_level(logging.DEBUG, logger=name)
    yield
    assert KEY not in caplog.text
    assert all(KEY not in str(record.__dict__) for record in caplog.records)


def stt(server: SpeechServer, **options: str) -> OpenAISTT:
    return OpenAISTT(base_url=server.base_url, model="whisper-test", key_env=options.get("key_env", KEY_ENV))


def tts(server: SpeechServer) -> OpenAITTS:
    return OpenAITTS(base_url=server.base_url, model="tts-test", voice="alloy", key_env=KEY_ENV)


# --- Speech to text -----------------------------------------------------------


async def test_stt_sends_the_utterance_as_wav_and_reads_the_text(server: SpeechServer) -> None:
    server.script(TRANSCRIPTIONS, json_answer({"text": " Hello from the server. "}))

    transcript = await stt(server).transcribe(silence(1), language="en-US")

    assert (transcript.text, transcript.language, transcript.provider) == ("Hello from the server.", "en", "openai")
    request = server.requests[0]
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert b'name="model"\r\n\r\nwhisper-test' in request.body
    assert b'name="language"\r\n\r\nen' in request.body
    assert wav_encode(silence(1), 16_000) in request.body


async def test_stt_without_the_key_variable_sends_no_key(server: SpeechServer,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-must-not-be-used")
    server.script(TRANSCRIPTIONS, json_answer({"text": "ok"}))

    await stt(server).transcribe(silence(1), language="en")

    assert "authorization" not in server.requests[0].headers


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (json_answer({"error": {"message": f"server exploded, key {KEY}"}}, status=500), "HTTP 500 from 127.0.0.1"),
        (json_answer({"error": "bad key"}, status=401), "HTTP 401 from 127.0.0.1"),
        (Answer(body=b"<html>not json</html>", content_type="text/html"), "no text|not a valid answer"),
        (json_answer({"words": ["no", "text"]}), "no text|not a valid answer"),
        (json_answer({"text": 42}), "no text|not a valid answer"),
    ],
    ids=["500", "401", "html", "no_text", "text_not_a_string"],
)
async def test_stt_errors_and_garbage_fail_over_to_whisper(server: SpeechServer, whisper, speech16k,  # noqa: ANN001
                                                           answer: Answer, reason: str) -> None:
    server.script(TRANSCRIPTIONS, answer)
    chain = SpeechToTextChain([stt(server), whisper], timeout=4.0)

    transcript = await chain.transcribe(speech16k["meeting"], language="en")

    assert transcript.provider == "faster_whisper" and "noon" in words(transcript.text)
    with pytest.raises(SpeechUnavailableError, match=reason) as caught:
        server.script(TRANSCRIPTIONS, answer)
        await SpeechToTextChain([stt(server)], timeout=4.0).transcribe(silence(1), language="en")
    assert KEY not in str(caught.value) and KEY not in str(caught.value.context)


async def test_a_hanging_server_is_a_failure_at_the_deadline(server: SpeechServer) -> None:
    server.script(TRANSCRIPTIONS, Answer(hang=True))

    with pytest.raises(SpeechUnavailableError, match="no answer within 0.3 s"):
        await SpeechToTextChain([stt(server)], timeout=0.3).transcribe(silence(1), language="en")


async def test_a_server_that_is_not_there_is_a_failure(dead_port: int) -> None:
    provider = OpenAISTT(base_url=f"http://127.0.0.1:{dead_port}/v1", model="m", key_env=KEY_ENV)

    with pytest.raises(ProviderError, match=f"cannot connect to 127.0.0.1:{dead_port}"):
        await provider.transcribe(silence(1), language="en")


def test_without_a_base_url_the_provider_says_it_is_not_configured() -> None:
    assert OpenAISTT(base_url="", model="m").unavailable_reason() == "no base URL is set"
    assert OpenAITTS(base_url="", model="m", voice="v").unavailable_reason() == "no base URL is set"


# --- Text to speech -----------------------------------------------------------


def tone_wav(rate: int, seconds: float) -> tuple[np.ndarray, bytes]:
    t = np.arange(int(rate * seconds)) / rate
    samples = (8000 * np.sin(2 * np.pi * 220 * t)).astype(np.int16)
    return samples, wav_encode(samples, rate)


async def test_tts_streams_the_wav_answer_as_it_arrives(server: SpeechServer) -> None:
    samples, body = tone_wav(24_000, 1.0)
    server.script(SPEECH, Answer(body=body, content_type="audio/wav", chunk_bytes=1001))

    chunks = [chunk async for chunk in tts(server).synthesize("Hello.\x00", voice="nova")]

    assert len(chunks) > 1
    assert np.array_equal(np.concatenate(chunks), samples)
    request = server.requests[0]
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert b'"input":"Hello."' in request.body.replace(b" ", b"")
    assert b'"voice":"nova"' in request.body.replace(b" ", b"")
    assert b'"response_format":"wav"' in request.body.replace(b" ", b"")


async def test_tts_at_another_rate_is_converted_to_the_providers_rate(server: SpeechServer) -> None:
    _, body = tone_wav(22_050, 1.0)
    server.script(SPEECH, Answer(body=body, content_type="audio/wav"))

    chunks = [chunk async for chunk in tts(server).synthesize("Hello.")]

    assert abs(sum(chunk.size for chunk in chunks) - 24_000) < 100


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (json_answer({"error": f"overloaded {KEY}"}, status=500), "HTTP 500"),
        (Answer(body=b"<html>Bad gateway</html>" * 10, content_type="text/html"), "not WAV audio"),
        (Answer(body=b"", content_type="audio/wav"), "not WAV audio"),
        (Answer(hang=True), "no answer within"),
    ],
    ids=["500", "html", "empty", "hang"],
)
async def test_tts_errors_garbage_and_hangs_fail_over_to_piper(server: SpeechServer, piper,  # noqa: ANN001
                                                               answer: Answer, reason: str) -> None:
    server.script(SPEECH, answer, answer)
    chain = TextToSpeechChain([tts(server), piper], timeout=1.0)

    speech = np.concatenate([chunk async for chunk in chain.synthesize("Hello there.")])

    assert speech.size > 24_000
    with pytest.raises(SpeechUnavailableError, match=reason) as caught:
        _ = [chunk async for chunk in TextToSpeechChain([tts(server)], timeout=1.0).synthesize("Hello there.")]
    assert KEY not in str(caught.value) and KEY not in str(caught.value.context)
