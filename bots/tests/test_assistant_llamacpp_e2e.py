"""The assistant end to end against a real small model server nobody here wrote: llama.cpp's (xllamacpp,
Gemma 3 270M), with a real worker and an aiortc participant that speaks, in a loopback-only namespace.

A base model: what it answers is not sensible, so the test checks the protocol (the question goes in,
a streamed answer comes back and is spoken), not the words.
"""
from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import numpy as np
import pytest
from django.conf import settings

from bots.speech.tts import PiperTTS
from bots.tests.conftest import speak
from bots.tests.llamacpp_server import LlamaCppServer
from bots.tests.rtc_client import RATE, RtcParticipant, SpeechTrack
from bots.tests.stack import BotStack, WorkerProcess
from bots.tests.test_assistant_e2e import ask, assistant_joins, to_rate
from bots.tests.test_echo_e2e import bot_state, new_lobby

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def gemma(bot_stack: BotStack) -> Iterator[LlamaCppServer]:
    with LlamaCppServer(settings.VAR_DIR, threads=1) as server:
        yield server


@pytest.fixture(scope="module")
def worker(bot_stack: BotStack, gemma: LlamaCppServer) -> Iterator[WorkerProcess]:
    worker = bot_stack.worker(env={
        "VOICEBOT_LLM_PROVIDERS": json.dumps([{"name": "gemma", "base_url": gemma.base_url,
                                               "model": "gemma-3-270m"}]),
        # A busy two-core machine: a cold model's first token may take seconds.
        "VOICEBOT_LLM_FIRST_TOKEN_TIMEOUT": "60",
        "VOICEBOT_LLM_CHUNK_TIMEOUT": "30",
    })
    yield worker
    worker.stop()


async def test_a_spoken_question_is_answered_through_a_llamacpp_server(
    bot_stack: BotStack, worker: WorkerProcess, piper: PiperTTS,
) -> None:
    question = to_rate(await speak(piper, "What is the capital of France?"), piper.sample_rate, RATE)
    ann = RtcParticipant(bot_stack.server.url, await new_lobby(bot_stack), "Ann", track=SpeechTrack())
    try:
        await ann.join()
        bot_id = await assistant_joins(ann, profile=None)
        ended = await ask(ann, question)
        said = await ann.wait_for(lambda f: f["type"] == "chat" and f.get("transcript", {}).get(
            "speaker_session_id") == bot_id, deadline=120, what="the model's answer, spoken")
        assert said["text"].strip()
        heard = ann.heard[bot_id]
        first_sound = heard.first_sound(ended)
        assert first_sound is not None, "nothing of the answer was heard"
        print(f"llama.cpp: {said['text']!r}, first audio {first_sound - ended:.2f} s after the question")
        await ann.wait_for(lambda f: bot_state(f, bot_id, "listening"), deadline=60, what="the answer's end")
        # No provider failure was stored: llama.cpp's stream and this client agree.
        codes = dict(await asyncio.to_thread(bot_stack.rows, "SELECT code, category FROM errors_errorgroup"))
        assert "bot_provider_error" not in codes and "bot_unavailable" not in codes, codes
    finally:
        await ann.close()
