"""The assistant end to end: a real server and worker, an aiortc participant that speaks (Piper) in a
loopback-only namespace, and scripted OpenAI-compatible servers the test starts.

What the participant hears back is transcribed with faster-whisper: the answer's words must be in it.
"""
from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from bots.speech.audio import SPEECH_RATE, PcmResampler
from bots.speech.stt import FasterWhisperSTT
from bots.speech.tts import PiperTTS
from bots.tests.conftest import speak, words
from bots.tests.llm_server import LLMServer, Reply
from bots.tests.rtc_client import RATE, RtcParticipant, SpeechTrack
from bots.tests.stack import BotStack, WorkerProcess, wait_until
from bots.tests.test_echo_e2e import bot_state, new_lobby

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

INSTRUCTIONS = "You are Atlas, a geography guide. Answer in one or two short sentences."
ANSWER = "Paris is the capital of France. It is a beautiful city on the river Seine."


def providers_env(*servers: tuple[str, LLMServer], **extra: str) -> dict[str, str]:
    return {
        "VOICEBOT_LLM_PROVIDERS": json.dumps([{"name": name, "base_url": server.base_url, "model": "scripted"}
                                              for name, server in servers]),
        "VOICEBOT_LLM_FIRST_TOKEN_TIMEOUT": "1.5",
        "VOICEBOT_LLM_CHUNK_TIMEOUT": "1.5",
        "VOICEBOT_BREAKER_FAILURE_THRESHOLD": "2",
        "VOICEBOT_BREAKER_RECOVERY_TIMEOUT": "1",
        "VOICEBOT_SPEECH_WORKERS": "2",
        **extra,
    }


@pytest.fixture(scope="module")
def llm(bot_stack: BotStack) -> Iterator[tuple[LLMServer, LLMServer]]:
    """Two scripted providers, started inside the namespace: "first", then "second"."""
    first, second = LLMServer().start(), LLMServer().start()
    yield first, second
    first.stop()
    second.stop()


@pytest.fixture(scope="module")
def worker(bot_stack: BotStack, llm: tuple[LLMServer, LLMServer]) -> Iterator[WorkerProcess]:
    first, second = llm
    worker = bot_stack.worker(env=providers_env(("first", first), ("second", second)))
    yield worker
    worker.stop()


@pytest.fixture(scope="module")
def profile(bot_stack: BotStack) -> str:
    now = "2026-12-01 00:00:00"
    bot_stack.execute(
        "INSERT INTO bots_botprofile (id, name, kind, description, voice, instructions, greeting, language, "
        "providers, tools, answer_length, temperature, created_at, updated_at) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        ("atlas", "Atlas", "assistant", "A geography guide.", "", INSTRUCTIONS, "", "en", "[]",
         json.dumps(["who_is_here", "mute_me", "leave"]), 40, 0.2, now, now),
    )
    return "atlas"


def to_rate(pcm: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    resampler = PcmResampler(rate_in, rate_out)
    return np.concatenate([resampler.push(pcm), resampler.flush()])


@pytest.fixture(scope="module")
def question(piper: PiperTTS) -> np.ndarray:
    return to_rate(asyncio.run(speak(piper, "What is the capital of France?")), piper.sample_rate, RATE)


async def heard_words(whisper: FasterWhisperSTT, pcm48k: np.ndarray) -> set[str]:
    transcript = await whisper.transcribe(to_rate(pcm48k, RATE, SPEECH_RATE), language="en")
    return words(transcript.text)


async def assistant_joins(person: RtcParticipant, profile: str | None = "atlas") -> str:
    fields = {"profile": profile} if profile else {}
    status, body = await person.add_bot("assistant", **fields)
    assert status == 202, body
    bot_id = str(body["session_id"])
    await person.wait_for(lambda f: f["type"] == "participant_joined" and f["participant"]["session_id"] == bot_id,
                          deadline=30, what="the assistant joining")
    await person.connected_to(bot_id, deadline=30)
    await person.wait_for(lambda f: bot_state(f, bot_id, "listening"), deadline=30, what="the assistant listening")
    return bot_id


async def ask(person: RtcParticipant, pcm48k: np.ndarray) -> float:
    """Says ``pcm48k``; when its last frame went out."""
    assert isinstance(person.track, SpeechTrack)
    person.track.say(pcm48k)
    while person.track.busy:
        await asyncio.sleep(0.02)
    return person.track.said[-1][1]


async def test_a_spoken_question_is_answered_aloud_with_the_models_words(
    bot_stack: BotStack, worker: WorkerProcess, llm: tuple[LLMServer, LLMServer], profile: str,
    question: np.ndarray, whisper: FasterWhisperSTT,
) -> None:
    first, _ = llm
    first.script(Reply(text=ANSWER, piece_delay=0.01))
    ann = RtcParticipant(bot_stack.server.url, await new_lobby(bot_stack), "Ann", track=SpeechTrack())
    try:
        await ann.join()
        bot_id = await assistant_joins(ann)
        asked = len(first.requests)
        ended = await ask(ann, question)
        await ann.wait_for(lambda f: bot_state(f, bot_id, "speaking"), deadline=20, what="the assistant speaking")
        await ann.wait_for(lambda f: bot_state(f, bot_id, "listening"), deadline=20, what="the answer's end")
        heard = ann.heard[bot_id]
        first_sound = heard.first_sound(ended)
        assert first_sound is not None
        print(f"voice to voice (the last frame of the question to the first of the answer): "
              f"{first_sound - ended:.2f} s")
        got = await heard_words(whisper, heard.pcm(ended))
        assert {"paris", "capital", "france"} <= got, got

        # The provider got the transcribed question, the profile's instructions, and who asked.
        request = first.requests[asked]
        assert INSTRUCTIONS in request.text_of("system")
        user = request.text_of("user")
        assert "[Ann]:" in user and "capital of france" in user.lower(), user
        assert request.body["stream"] is True
        assert {tool["function"]["name"] for tool in request.body["tools"]} == {"who_is_here", "mute_me", "leave"}

        # What it heard and what it said are transcripts in the chat.
        said = await ann.wait_for(lambda f: f["type"] == "chat" and f.get("transcript", {}).get(
            "speaker_session_id") == bot_id, what="the assistant's own transcript")
        assert said["text"].startswith("Paris is the capital of France.")
        await ann.wait_for(lambda f: f["type"] == "chat" and f.get("transcript", {}).get(
            "speaker_session_id") == ann.session_id, what="the transcript of Ann's question")
    finally:
        await ann.close()
