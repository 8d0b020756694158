"""The captioner in the test process, fed Piper's speech as 20 ms WebRTC frames: who said what, and its bounds."""
from __future__ import annotations

import asyncio

import numpy as np

from bots.kinds.captioner import DOWN_TEXT, UP_TEXT, CaptionerBot
from bots.runtime.audio import frames_of
from bots.speech.audio import WEBRTC_RATE
from bots.speech.exceptions import SpeechUnavailableError

from .conftest import mostly_heard, silence48k, words
from .kind_context import RecordingContext, until
from .speech_server import Answer, SpeechServer, json_answer

TRANSCRIPTIONS = "/v1/audio/transcriptions"
ANN, BOB, CAROL, DAN = ("a1" * 16, "b2" * 16, "c3" * 16, "d4" * 16)


async def feed(bot: CaptionerBot, streams: dict[str, np.ndarray]) -> None:
    """Every stream frame by frame, interleaved (people talking at once), faster than real time."""
    framed = {peer: frames_of(pcm) for peer, pcm in streams.items()}
    for index in range(max(len(frames) for frames in framed.values())):
        for peer, frames in framed.items():
            if index < len(frames):
                bot.audio_received(peer, frames[index])
        if index % 25 == 0:
            await asyncio.sleep(0)


async def listening(bot: CaptionerBot, *peers: str) -> None:
    """Each peer's detector is made (audio before it is ignored)."""
    for peer in peers:
        bot.audio_received(peer, np.zeros(960, dtype=np.int16))
    await until(lambda: all(bot.listeners.get(p) and bot.listeners[p].segmenter for p in peers), what="detectors")


async def test_two_speakers_in_turn_are_each_transcribed_and_attributed(chains, speech48k) -> None:  # noqa: ANN001
    context = RecordingContext()
    bot = CaptionerBot(context)
    await bot.started()
    try:
        await listening(bot, ANN, BOB)
        await feed(bot, {ANN: np.concatenate([speech48k["fox"], silence48k(1.0)]), BOB: silence48k(1.0)})
        await feed(bot, {BOB: np.concatenate([speech48k["umbrella"], silence48k(1.0)]), ANN: silence48k(1.0)})
        await until(lambda: len(context.said) >= 2, what="two transcripts")
        (fox, fox_speaker), (umbrella, umbrella_speaker) = context.said
        assert (fox_speaker, umbrella_speaker) == (ANN, BOB)
        assert mostly_heard({"quick", "brown", "fox", "lazy", "dog"}, words(fox)), fox
        assert mostly_heard({"remember", "bring", "umbrella", "tomorrow"}, words(umbrella)), umbrella
        assert context.state == "listening"
    finally:
        await bot.stopped()


async def test_four_people_talking_at_once_are_all_heard(chains, speech48k) -> None:  # noqa: ANN001
    context = RecordingContext()
    bot = CaptionerBot(context)
    await bot.started()
    try:
        await listening(bot, ANN, BOB, CAROL, DAN)
        said = {ANN: "fox", BOB: "umbrella", CAROL: "meeting", DAN: "fox"}
        await feed(bot, {peer: np.concatenate([speech48k[key], silence48k(1.0)]) for peer, key in said.items()})
        await until(lambda: len(context.said) >= 4, what="four transcripts")
        by_speaker = {speaker: text for text, speaker in context.said}
        assert set(by_speaker) == set(said)
        assert {"fox", "dog"} <= words(by_speaker[ANN]) and {"fox", "dog"} <= words(by_speaker[DAN])
        assert {"umbrella"} <= words(by_speaker[BOB])
        assert {"meeting", "noon"} <= words(by_speaker[CAROL])
        assert bot.dropped == 0 and bot.stats()["peak_queued_utterances"] <= 4
    finally:
        await bot.stopped()


async def test_a_monologue_is_cut_into_pieces_and_memory_stays_bounded(chains, settings, monologue48k) -> None:  # noqa: ANN001
    settings.VOICEBOT_UTTERANCE_MAX = 15.0
    context = RecordingContext()
    bot = CaptionerBot(context)
    await bot.started()
    try:
        await listening(bot, ANN)
        assert monologue48k.size == 60 * WEBRTC_RATE
        await feed(bot, {ANN: np.concatenate([monologue48k, silence48k(1.0)])})
        await until(lambda: bot.stats()["queued_utterances"] == 0 and len(context.said) >= 4, deadline=60,
                    what="the monologue's transcripts")
        stats = bot.stats()
        assert stats["peak_buffered_seconds"] <= 15.5, stats
        assert stats["peak_queued_seconds"] <= settings.VOICEBOT_CAPTIONER_QUEUE * 15.5, stats
        assert all(speaker == ANN for _, speaker in context.said)
        assert {"river", "train", "garden", "football"} <= words(" ".join(text for text, _ in context.said))
    finally:
        await bot.stopped()


async def test_noise_and_silence_give_no_transcript_and_hold_nothing(chains) -> None:  # noqa: ANN001
    context = RecordingContext()
    bot = CaptionerBot(context)
    await bot.started()
    try:
        await listening(bot, ANN, BOB)
        noise = (np.random.default_rng(3).uniform(-0.5, 0.5, 20 * WEBRTC_RATE) * 32767).astype(np.int16)
        await feed(bot, {ANN: noise, BOB: silence48k(20)})
        await asyncio.sleep(0.5)
        stats = bot.stats()
        assert context.said == [] and stats["queued_utterances"] == 0 and stats["transcripts"] == 0
        assert stats["peak_buffered_seconds"] <= 1.0, stats
    finally:
        await bot.stopped()


async def test_a_provider_answering_garbage_makes_the_fallback_serve(
    chains, settings, speech_server: SpeechServer, speech48k,  # noqa: ANN001
) -> None:
    settings.VOICEBOT_STT_PROVIDERS = ["bots.speech.stt.OpenAISTT", "bots.speech.stt.FasterWhisperSTT"]
    settings.VOICEBOT_STT_OPENAI_BASE_URL = speech_server.base_url
    speech_server.always(TRANSCRIPTIONS, Answer(body=b"\x00not json{{", content_type="application/json"))
    context = RecordingContext()
    bot = CaptionerBot(context)
    await bot.started()
    try:
        await listening(bot, ANN)
        await feed(bot, {ANN: np.concatenate([speech48k["meeting"], silence48k(1.0)])})
        await until(lambda: context.said, what="a transcript")
        [(text, speaker)] = context.said
        assert speaker == ANN and {"meeting", "noon"} <= words(text)
        assert speech_server.requests and not bot.outage.down
    finally:
        await bot.stopped()


async def test_with_every_recogniser_down_it_is_unavailable_says_so_and_recovers(
    chains, settings, speech_server: SpeechServer, speech48k, fast_breakers,  # noqa: ANN001
) -> None:
    settings.VOICEBOT_STT_PROVIDERS = ["bots.speech.stt.OpenAISTT"]
    settings.VOICEBOT_STT_OPENAI_BASE_URL = speech_server.base_url
    speech_server.always(TRANSCRIPTIONS, Answer(status=503, body=b'{"error": "overloaded"}'))
    context = RecordingContext()
    bot = CaptionerBot(context)
    await bot.started()
    try:
        await listening(bot, ANN)
        await feed(bot, {ANN: np.concatenate([speech48k["fox"], silence48k(1.0)])})
        await until(lambda: context.said, what="the outage line")
        assert context.said == [(DOWN_TEXT, None)] and context.state == "unavailable"
        [error] = [e for e, _ in context.reported if isinstance(e, SpeechUnavailableError)]
        assert error.category == "bot" and error.context["providers"][0]["provider"] == "openai"

        speech_server.always(TRANSCRIPTIONS, json_answer({"text": "The server is back."}))
        await until(lambda: context.said[-1] == (UP_TEXT, None), what="the recovery")
        assert context.state == "listening"
        await listening(bot, ANN)
        await feed(bot, {ANN: np.concatenate([speech48k["fox"], silence48k(1.0)])})
        await until(lambda: context.said[-1] == ("The server is back.", ANN), what="a transcript again")
    finally:
        await bot.stopped()
