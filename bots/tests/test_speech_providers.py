"""The chains from settings: default providers, bad dotted paths, warm-up, and the settings' parsing."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.exceptions import ImproperlyConfigured

from bots.speech.providers import chains_reset, segmenter_create, speech_health, speech_warm_up, stt_chain, tts_chain
from bots.speech.vad import SileroVAD
from resilience.registry import dependencies
from voicebot_site import settings as site_settings


@pytest.fixture(autouse=True)
def fresh_chains() -> Iterator[None]:
    chains_reset()
    yield
    chains_reset()


def test_the_default_chains_are_local_and_offline() -> None:
    assert [provider.name for provider in stt_chain().providers] == ["faster_whisper"]
    assert [provider.name for provider in tts_chain().providers] == ["piper", "espeak"]
    assert stt_chain() is stt_chain()  # one per process: models load once


async def test_warm_up_loads_every_local_model_and_lists_its_breaker(settings) -> None:  # noqa: ANN001
    settings.VOICEBOT_STT_PROVIDERS = ["bots.speech.stt.FasterWhisperSTT", "bots.speech.stt.OpenAISTT"]
    settings.VOICEBOT_STT_OPENAI_BASE_URL = ""

    health = await speech_warm_up()

    assert health["vad"].available and health["stt"].available and health["tts"].available
    assert [(p.provider, p.state) for p in health["stt"].providers] == [
        ("faster_whisper", "closed"), ("openai", "unavailable")]
    assert health["stt"].providers[1].reason == "no base URL is set"
    names = {made.name for made in dependencies()}  # what /readyz, /metrics and the dashboard list
    assert {"vad.silero", "stt.faster_whisper", "tts.piper"} <= names
    assert speech_health()["tts"].providers[0].dependency == "tts.piper"


async def test_a_segmenter_takes_its_timings_from_settings(settings) -> None:  # noqa: ANN001
    settings.VOICEBOT_VAD_SILENCE = 0.8
    settings.VOICEBOT_UTTERANCE_MAX = 6.0

    segmenter = await segmenter_create()

    assert isinstance(segmenter.vad, SileroVAD)
    assert segmenter.silence_windows == 25 and segmenter.max_windows == 187


@pytest.mark.parametrize(
    ("paths", "message"),
    [
        (["bots.speech.stt.NoSuchSTT"], "VOICEBOT_STT_PROVIDERS: cannot import 'bots.speech.stt.NoSuchSTT'"),
        (["no_such_package.STT"], "VOICEBOT_STT_PROVIDERS: cannot import 'no_such_package.STT'"),
        (["bots.speech.tts.PiperTTS"], "'bots.speech.tts.PiperTTS' is not a SpeechToText provider class"),
        (["bots.speech.stt.base.SpeechToText"], "is not a SpeechToText provider class"),
        (["bots.speech.stt.FasterWhisperSTT", "bots.speech.stt.whisper.FasterWhisperSTT"],
         "names the same provider twice"),
    ],
)
def test_a_bad_provider_path_is_refused_in_one_line(settings, paths: list[str], message: str) -> None:  # noqa: ANN001
    settings.VOICEBOT_STT_PROVIDERS = paths

    with pytest.raises(ImproperlyConfigured, match=message) as caught:
        stt_chain()

    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("parse", "value", "message"),
    [
        (lambda: site_settings.env_dotted_paths("X", "a.B"), "", None),
        (lambda: site_settings.env_dotted_paths("X", "a.B"), "Piper", "dotted paths"),
        (lambda: site_settings.env_dotted_paths("X", "a.B"), " , ", "dotted paths"),
        (lambda: site_settings.env_dotted_paths("X", "a.B"), "a.B, c.d-e", "dotted paths"),
        (lambda: site_settings.env_seconds("X", 1.0, minimum=0.1), "0", "at least 0.1"),
        (lambda: site_settings.env_seconds("X", 1.0, minimum=0.1), "nan", "at least 0.1"),
        (lambda: site_settings.env_seconds("X", 1.0), "soon", "number of seconds"),
        (lambda: site_settings.env_positive_int("X", 1), "0", "at least 1"),
        (lambda: site_settings.env_url("X"), "127.0.0.1:8000/v1", "http:// or https://"),
        (lambda: site_settings.env_url("X"), "http://host/v1 x", "http:// or https://"),
        (lambda: site_settings.env_name_of_env("X", "OPENAI_API_KEY"), "sk-abc123", "name of an environment"),
    ],
)
def test_speech_settings_are_parsed_or_refused_in_one_line(monkeypatch: pytest.MonkeyPatch, parse, value: str,  # noqa: ANN001
                                                           message: str | None) -> None:
    monkeypatch.setenv("X", value)
    if message is None:
        assert parse() == ["a.B"]
        return
    with pytest.raises(ImproperlyConfigured, match=message) as caught:
        parse()
    assert str(caught.value).startswith("X must") and "\n" not in str(caught.value)


def test_a_key_env_setting_holding_a_key_is_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X", "sk-live-abc123/def")

    with pytest.raises(ImproperlyConfigured) as caught:
        site_settings.env_name_of_env("X", "OPENAI_API_KEY")

    assert "sk-live" not in str(caught.value)
