"""Each turn's timings, ready to store, and the Prometheus histograms of them (summed across processes)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

from django.conf import settings
from prometheus_client import REGISTRY, CollectorRegistry, multiprocess

from bots.assistant.metrics import TurnTimer, turn_observe


def timer() -> TurnTimer:
    return TurnTimer(bot_session_id="bot0", lobby_id="lobby1", profile="guide", speaker_session_id="ann1",
                     speech_ended_at=100.0, clock=lambda: 101.0, wall=lambda: 1_800_000_001.0)


def test_a_turns_timings_come_from_its_moments() -> None:
    turn = timer()
    turn.mark("transcribed", 100.95, provider="faster_whisper")
    turn.mark("decided", 100.96)
    turn.mark("llm_requested", 100.97)
    turn.mark("llm_first_token", 101.03, provider="local")
    turn.mark("first_sentence", 101.10)
    turn.mark("tts_started", 101.11)
    turn.mark("tts_first_audio", 101.30, provider="piper")
    turn.mark("audio_started", 101.32)
    turn.mark("audio_started", 105.0)  # only the first time counts

    metrics = turn.finish(llm_providers=["cloud", "local"], fallback=True)

    assert (metrics.transcription, metrics.end_of_turn, metrics.llm_first_token, metrics.tts_first_audio,
            metrics.voice_to_voice) == (0.95, 0.96, 0.06, 0.19, 1.32)
    assert metrics.overhead == 0.04, "decided to request, first sentence to TTS, first audio to played"
    assert (metrics.stt_provider, metrics.llm_provider, metrics.tts_provider) == ("faster_whisper", "local", "piper")
    assert metrics.speech_ended_at == datetime.fromtimestamp(1_800_000_000.0, timezone.utc)
    assert metrics.outcome == "answered" and metrics.fallback and not metrics.interrupted


def test_a_turn_is_stored_as_json() -> None:
    turn = timer()
    turn.mark("transcribed", 100.5)
    metrics = turn.finish(error="bot_unavailable")

    data = json.loads(json.dumps(metrics.as_dict()))

    assert data["speech_ended_at"] == "2027-01-15T08:00:00+00:00"
    assert data["transcription"] == 0.5 and data["voice_to_voice"] is None and data["overhead"] is None
    assert data["error"] == "bot_unavailable" and metrics.outcome == "failed"
    assert len(data["turn_id"]) == 32 and data["profile"] == "guide"


def test_an_interrupted_or_silent_turn_says_so() -> None:
    assert timer().finish(interrupted=True).outcome == "interrupted"
    assert timer().finish().outcome == "silent"


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_turns_feed_the_histograms_by_stage_and_provider() -> None:
    turn = timer()
    turn.mark("llm_requested", 100.9)
    turn.mark("llm_first_token", 101.0, provider="metrics-test")
    turn.mark("audio_started", 101.5)
    before = sample("voicebot_bot_turn_seconds_count", stage="llm_first_token", provider="metrics-test")
    fallbacks = sample("voicebot_bot_llm_fallbacks_total", provider="metrics-test")

    turn_observe(turn.finish(fallback=True))

    assert sample("voicebot_bot_turn_seconds_count", stage="llm_first_token", provider="metrics-test") == before + 1
    assert sample("voicebot_bot_turn_seconds_bucket", stage="voice_to_voice", provider="", le="1.5") >= 1
    assert sample("voicebot_bot_llm_fallbacks_total", provider="metrics-test") == fallbacks + 1
    assert sample("voicebot_bot_turns_total", outcome="answered") >= 1


OBSERVE_ONE = """
import django, os
os.environ["DJANGO_SETTINGS_MODULE"] = "voicebot_site.settings_test"
django.setup()
from bots.assistant.metrics import TurnTimer, turn_observe
turn = TurnTimer(bot_session_id="b", lobby_id="l", profile=None, speaker_session_id="s", speech_ended_at=0.0,
                 clock=lambda: 1.0)
turn.mark("audio_started", 0.8)
turn_observe(turn.finish())
"""


def test_the_histograms_are_summed_across_worker_processes(tmp_path: Path) -> None:
    environment = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PYTHONPATH": str(settings.BASE_DIR)}
    for _ in range(2):
        subprocess.run([sys.executable, "-c", OBSERVE_ONE], env=environment, check=True, timeout=60,
                       cwd=settings.BASE_DIR)

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(tmp_path))

    labels = {"stage": "voice_to_voice", "provider": ""}
    assert registry.get_sample_value("voicebot_bot_turn_seconds_count", labels) == 2
    assert abs(registry.get_sample_value("voicebot_bot_turn_seconds_sum", labels) - 1.6) < 1e-9
    assert registry.get_sample_value("voicebot_bot_turns_total", {"outcome": "answered"}) == 2
