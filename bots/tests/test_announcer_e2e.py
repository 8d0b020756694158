"""The announcer end to end: a chat line comes back as speech that real STT recognises, in what every aiortc
participant receives; with its only voice down (a real HTTP server answering 503) it says so and recovers."""
from __future__ import annotations

import asyncio
import time
from typing import Any

import numpy as np
import pytest

from bots.kinds.announcer import DOWN_TEXT, UP_TEXT
from bots.speech.audio import WEBRTC_RATE
from bots.speech.stt import FasterWhisperSTT
from bots.speech.tts import PiperTTS
from bots.speech.wav import wav_encode
from bots.tests.rtc_client import RtcParticipant, rms
from bots.tests.stack import BotStack
from bots.tests.test_echo_e2e import bot_state, new_lobby
from bots.tests.test_workers_e2e import bot_in

from .conftest import mostly_heard, to_16k, words
from .speech_server import Answer, SpeechServer
from .test_captioner_e2e import bot_said

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

SPEECH = "/v1/audio/speech"


async def spoken(person: RtcParticipant, bot_id: str, since: float, *, deadline: float = 30) -> None:
    """The bot spoke after ``since`` and has been quiet for a second since (what ``person`` hears)."""
    end = time.monotonic() + deadline
    while True:
        heard = person.heard.get(bot_id)
        loud = [at for at, pcm in heard.frames if at >= since and rms(pcm) > 0.01] if heard else []
        if loud and time.monotonic() - loud[-1] > 1.0:
            return
        assert time.monotonic() < end, f"{person.name}: the bot did not speak and stop within {deadline:g} s"
        await asyncio.sleep(0.1)


async def heard_words(person: RtcParticipant, bot_id: str, since: float, whisper: FasterWhisperSTT) -> set[str]:
    pcm = person.heard[bot_id].pcm(since)
    assert rms(pcm) > 0.005, f"{person.name} heard nothing from the bot"
    transcript = await whisper.transcribe(to_16k(pcm, WEBRTC_RATE), language="en")
    return words(transcript.text)


async def test_a_chat_line_is_spoken_to_everyone_and_recognised_by_stt(
    bot_stack: BotStack, start_worker: Any, whisper: FasterWhisperSTT
) -> None:
    start_worker()
    lobby_id = await new_lobby(bot_stack, "Read aloud")
    ann = RtcParticipant(bot_stack.server.url, lobby_id, "Ann")
    bob = RtcParticipant(bot_stack.server.url, lobby_id, "Bob")
    try:
        await ann.join()
        await bob.join()
        bot_id = await bot_in(ann, "announcer")
        for person in (ann, bob):
            await person.connected_to(bot_id, deadline=30)
        await spoken(ann, bot_id, 0.0)  # its greeting
        sent = time.monotonic()
        await ann.send({"type": "chat", "text": "The quick brown fox jumps over the lazy dog."})
        await spoken(ann, bot_id, sent)
        for person in (ann, bob):
            heard = await heard_words(person, bot_id, sent, whisper)
            assert mostly_heard({"quick", "brown", "fox", "lazy", "dog"}, heard), (person.name, heard)
        # A newcomer is announced to those already there.
        newcomer_at = time.monotonic()
        newcomer = RtcParticipant(bot_stack.server.url, lobby_id, "Margaret")
        await newcomer.join()
        await spoken(bob, bot_id, newcomer_at)
        heard = await heard_words(bob, bot_id, newcomer_at, whisper)
        assert "margaret" in heard and heard & {"joined", "join"}, heard
        await newcomer.close()
    finally:
        await ann.close()
        await bob.close()


async def test_with_its_voice_down_it_says_so_is_stored_and_recovers(
    bot_stack: BotStack, start_worker: Any, speech_server: SpeechServer, piper: PiperTTS,
    whisper: FasterWhisperSTT,
) -> None:
    speech_server.always(SPEECH, Answer(status=503, body=b'{"error": "overloaded"}'))
    start_worker(VOICEBOT_TTS_PROVIDERS="bots.speech.tts.OpenAITTS", VOICEBOT_TTS_OPENAI_BASE_URL=speech_server.base_url,
                 VOICEBOT_BREAKER_FAILURE_THRESHOLD="2", VOICEBOT_BREAKER_RECOVERY_TIMEOUT="1")
    lobby_id = await new_lobby(bot_stack, "No voice")
    ann = RtcParticipant(bot_stack.server.url, lobby_id, "Ann")
    try:
        await ann.join()
        bot_id = await bot_in(ann, "announcer")
        await ann.connected_to(bot_id, deadline=30)
        await ann.wait_for(lambda f: bot_state(f, bot_id, "unavailable"), deadline=10, what="unavailable")
        await ann.wait_for(bot_said(bot_id, DOWN_TEXT), deadline=10, what="the outage said in chat")
        await asyncio.sleep(2.5)  # the worker's error writer stores once a second
        rows = await asyncio.to_thread(
            bot_stack.rows, "SELECT e.context FROM errors_errorevent e JOIN errors_errorgroup g ON e.group_id = g.id "
                            "WHERE g.category = %s AND g.\"where\" = %s", ("bot", "bot.announcer.speak"))
        assert rows and "openai" in str(rows[0][0]) and "503" in str(rows[0][0]), rows

        hello = np.concatenate([chunk async for chunk in piper.synthesize("Hello again, everyone.")])
        speech_server.always(SPEECH, Answer(body=wav_encode(hello, piper.sample_rate), content_type="audio/wav"))
        await ann.wait_for(lambda f: bot_state(f, bot_id, "listening"), deadline=30, what="listening again")
        await ann.wait_for(bot_said(bot_id, UP_TEXT), deadline=10, what="the recovery said in chat")
        await asyncio.sleep(0.5)
        sent = time.monotonic()
        await ann.send({"type": "chat", "text": "Can you hear me?"})
        await spoken(ann, bot_id, sent)
        assert {"hello", "everyone"} <= await heard_words(ann, bot_id, sent, whisper)
    finally:
        await ann.close()
