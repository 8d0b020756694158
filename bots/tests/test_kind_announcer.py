"""The announcer in the test process, with real voices: what it reads, how a flood and an outage go."""
from __future__ import annotations


import numpy as np

from bots.kinds.announcer import DOWN_TEXT, UP_TEXT, AnnouncerBot, cut
from bots.speech.audio import WEBRTC_RATE
from bots.speech.exceptions import SpeechUnavailableError
from bots.speech.segmenter import UtteranceEnded, UtteranceSegmenter
from bots.speech.stt import FasterWhisperSTT
from bots.speech.vad import SileroVAD
from bots.speech.wav import wav_encode

from .conftest import mostly_heard, to_16k, words
from .kind_context import RecordingContext, until
from .speech_server import Answer, SpeechServer

SPEECH = "/v1/audio/speech"
# What the voice answers once it is back (a short "Hello again." was heard as "a little again" once).
RECOVERED = "The quick brown fox jumps over the lazy dog."


async def heard_words(context: RecordingContext, whisper: FasterWhisperSTT) -> set[str]:
    """The words of what the bot said, each line transcribed alone (cut at its pauses by silero)."""
    segmenter = UtteranceSegmenter(SileroVAD(), silence=0.2, max_utterance=20.0)
    events = segmenter.feed(to_16k(context.heard_pcm(), WEBRTC_RATE)) + segmenter.flush()
    heard: set[str] = set()
    for event in events:
        if isinstance(event, UtteranceEnded):
            heard |= words((await whisper.transcribe(event.pcm16k, language="en")).text)
    return heard


async def started(context: RecordingContext) -> AnnouncerBot:
    bot = AnnouncerBot(context)
    await bot.started()
    await until(lambda: bot.spoken >= 1 and not bot.lines and context.audio.queued() == 0,
                what="the greeting", context=context)
    context.heard.clear()
    return bot


def chat(name: str, text: str, **extra: object) -> dict[str, object]:
    return {"type": "chat", "session_id": "a1" * 16, "name": name, "text": text, "ts": "", "is_bot": False,
            **extra}


async def test_a_chat_line_is_spoken_to_everyone_with_who_wrote_it(chains, whisper) -> None:  # noqa: ANN001
    context = RecordingContext()
    bot = await started(context)
    try:
        await bot.chat_received(chat("Ann", "The quick brown fox jumps over the lazy dog."))
        await until(lambda: bot.spoken >= 2 and context.audio.queued() == 0, what="the line", context=context)
        heard = await heard_words(context, whisper)
        assert mostly_heard({"quick", "brown", "fox", "lazy", "dog"}, heard), heard
        assert context.state == "listening"
    finally:
        await bot.stopped()


async def test_joins_and_leaves_are_spoken_and_bots_lines_are_not(chains, whisper) -> None:  # noqa: ANN001
    context = RecordingContext()
    bot = await started(context)
    try:
        await bot.chat_received(chat("Caption", "A transcript", is_bot=True, transcript={"speaker_session_id": "x"}))
        await bot.chat_received({**chat("Me", "my own line"), "session_id": context.session_id})
        assert not bot.lines
        await bot.participant_joined({"session_id": "c3" * 16, "name": "Margaret", "is_bot": False})
        await bot.participant_left("c3" * 16, "left", {"session_id": "c3" * 16, "name": "Margaret"})
        await until(lambda: bot.spoken >= 3 and context.audio.queued() == 0, what="two lines", context=context)
        heard = await heard_words(context, whisper)
        assert {"margaret", "left"} <= heard and heard & {"joined", "join"}, heard
        assert "transcript" not in heard
    finally:
        await bot.stopped()


async def test_a_flood_is_bounded_and_what_was_skipped_is_said(chains, whisper) -> None:  # noqa: ANN001
    context = RecordingContext()
    bot = await started(context)
    try:
        # Nobody drains the audio meanwhile: lines must wait in the bounded queue, not pile up as audio.
        # Words tiny.en hears after "I like" in Piper's voice: "apples", "lemons" and "grapes" came
        # out as "camples", "clemons" and "crates" in a third to two thirds of renderings.
        newest = ["bananas", "cherries", "peaches", "potatoes", "tomatoes"]
        for n in range(60):
            await bot.chat_received(chat("Bob", f"I like {newest[n - 55] if n >= 55 else 'cabbage'}."))
        assert len(bot.lines) <= 5
        assert bot.skipped_total >= 54
        # The greeting, the notice of what was not read, and the five newest lines.
        await until(lambda: bot.spoken == 7 and context.audio.queued() == 0, deadline=60,
                    what="the flood spoken", context=context)
        assert not bot.lines and bot.skipped == 0
        assert bot.peak_lines == 5
        assert context.audio.shared.dropped == 0  # no audio was thrown away: lines were
        heard = await heard_words(context, whisper)
        assert {"messages", "not", "read"} <= heard, " ".join(sorted(heard))
        # The newest lines are the ones read (tiny.en misses a number now and then).
        assert len(heard & set(newest)) >= 4 and "cabbage" not in heard, heard
        assert bot.stats()["skipped"] == bot.skipped_total
    finally:
        await bot.stopped()


def test_long_lines_are_cut_at_a_word() -> None:
    line = "word " * 100
    assert cut(line, 50) == ("word " * 10).strip() + "..."
    assert len(cut("x" * 500, 200)) == 203
    assert cut("  short   line ", 200) == "short line"


async def test_with_every_voice_down_it_is_unavailable_says_so_and_recovers(
    chains, settings, speech_server: SpeechServer, piper, whisper, fast_breakers,  # noqa: ANN001
) -> None:
    settings.VOICEBOT_TTS_PROVIDERS = ["bots.speech.tts.OpenAITTS"]
    settings.VOICEBOT_TTS_OPENAI_BASE_URL = speech_server.base_url
    speech_server.always(SPEECH, Answer(status=503, body=b'{"error": "overloaded"}'))
    context = RecordingContext()
    bot = AnnouncerBot(context)
    await bot.started()
    try:
        await until(lambda: bot.outage.down, what="the outage", context=context)
        await until(lambda: context.said, what="a chat line", context=context)
        assert context.said[0] == (DOWN_TEXT, None)
        assert context.state == "unavailable"
        [(error, where)] = [(e, w) for e, w in context.reported if isinstance(e, SpeechUnavailableError)]
        assert error.category == "bot" and where == "speak"
        assert error.context["providers"] == [{"provider": "openai", "reason": f"HTTP 503 from {speech_server.base_url[7:-3]}"}]
        # Lines meanwhile are skipped, not kept.
        await bot.chat_received(chat("Ann", "Is anyone there?"))
        assert not bot.lines and bot.skipped_total >= 1

        chunks = [chunk async for chunk in piper.synthesize(RECOVERED)]
        speech_server.always(SPEECH, Answer(body=wav_encode(np.concatenate(chunks), piper.sample_rate), content_type="audio/wav"))
        await until(lambda: not bot.outage.down and context.said[-1] == (UP_TEXT, None), what="the recovery",
                    context=context)
        assert context.state == "listening"
        await bot.chat_received(chat("Ann", "Back now?"))
        await until(lambda: bot.spoken >= 2 and context.audio.queued() == 0, what="speech again", context=context)
        heard = await heard_words(context, whisper)
        assert mostly_heard(words(RECOVERED), heard), heard
    finally:
        await bot.stopped()


async def test_a_voice_answering_garbage_makes_the_next_voice_speak(
    chains, settings, speech_server: SpeechServer, whisper,  # noqa: ANN001
) -> None:
    settings.VOICEBOT_TTS_PROVIDERS = ["bots.speech.tts.OpenAITTS", "bots.speech.tts.PiperTTS"]
    settings.VOICEBOT_TTS_OPENAI_BASE_URL = speech_server.base_url
    speech_server.always(SPEECH, Answer(body=b"RIFF\x00\x00garbage, not a WAV stream", content_type="audio/wav"))
    context = RecordingContext()
    bot = await started(context)
    try:
        await bot.chat_received(chat("Ann", "The quick brown fox jumps over the lazy dog."))
        await until(lambda: bot.spoken >= 2 and context.audio.queued() == 0, what="the line", context=context)
        assert {"quick", "brown", "fox"} <= await heard_words(context, whisper)
        assert len(speech_server.requests) >= 2 and not bot.outage.down and context.state == "listening"
    finally:
        await bot.stopped()
