"""Every turn of an assistant measured: its timings, the providers used, how it ended.

A ``TurnTimer`` takes the moments of one turn as they happen (on one
monotonic clock): the end of the speaker's speech, the transcript, the turn
decided, the language-model request and its first token, the first sentence
handed to text to speech, its first audio, the first audio played. ``finish``
makes a ``TurnMetrics``, a dataclass ready to be stored (``as_dict`` is
JSON), with:

- ``transcription``: end of speech to transcript;
- ``end_of_turn``: end of speech to the turn decided (the segmenter's
  silence, speech to text and the endpointing wait);
- ``llm_first_token``: request to the first token (failover included);
- ``tts_first_audio``: first sentence handed to text to speech to its first audio;
- ``voice_to_voice``: end of speech to the first audio played;
- ``overhead``: the bot's own share of voice to voice, all but the end of
  turn, the model's time to its first sentence and text to speech: turn
  decided to request, first sentence to text to speech, first audio to played.

``turn_observe`` adds it to the Prometheus histograms and counters of the
same (``voicebot_bot_turn_seconds{stage, provider}``...); prometheus_client
keeps them per process and sums them across processes in multiprocess mode
(ops/metrics.py), as it does every histogram and counter.
"""
from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from prometheus_client import Counter, Histogram

STAGES = ("end_of_turn", "transcription", "llm_first_token", "tts_first_audio", "voice_to_voice", "overhead")
BUCKETS = (0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0, 5.0, 10.0)

TURN_SECONDS = Histogram(
    "voicebot_bot_turn_seconds", "Timings of assistant turns, by stage and the provider that served it.",
    ["stage", "provider"], buckets=BUCKETS,
)
TURNS = Counter("voicebot_bot_turns_total", "Assistant turns, by how they ended.", ["outcome"])
LLM_FALLBACKS = Counter("voicebot_bot_llm_fallbacks_total",
                        "Assistant answers served by a language-model provider that was not the first.", ["provider"])


@dataclass
class TurnMetrics:
    turn_id: str
    bot_session_id: str
    lobby_id: str
    profile: str | None
    speaker_session_id: str
    # Wall-clock time the speaker's speech ended (UTC).
    speech_ended_at: datetime
    transcription: float | None = None
    end_of_turn: float | None = None
    llm_first_token: float | None = None
    tts_first_audio: float | None = None
    voice_to_voice: float | None = None
    overhead: float | None = None
    stt_provider: str | None = None
    llm_provider: str | None = None
    llm_providers: list[str] = field(default_factory=list)
    tts_provider: str | None = None
    fallback: bool = False
    interrupted: bool = False
    cut: bool = False
    # The error code that ended the turn (bot_unavailable...), or None.
    error: str | None = None

    @property
    def outcome(self) -> str:
        if self.error:
            return "failed"
        if self.interrupted:
            return "interrupted"
        return "answered" if self.voice_to_voice is not None else "silent"

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["speech_ended_at"] = self.speech_ended_at.isoformat()
        return data


class TurnTimer:
    """The moments of one turn, on one monotonic clock."""

    def __init__(self, *, bot_session_id: str, lobby_id: str, profile: str | None, speaker_session_id: str,
                 speech_ended_at: float, clock: Any = time.monotonic, wall: Any = time.time) -> None:
        self.ids = (bot_session_id, lobby_id, profile, speaker_session_id)
        self.clock = clock
        self.speech_ended = speech_ended_at
        # The wall-clock time of the end of speech, from how long ago it was on the monotonic clock.
        self.speech_ended_wall = wall() - (clock() - speech_ended_at)
        self.marks: dict[str, float] = {}
        self.providers: dict[str, str] = {}

    def mark(self, moment: str, at: float | None = None, *, provider: str | None = None) -> None:
        """``moment`` happened (its first time counts).

        Moments: transcribed, decided, llm_requested, llm_first_token, first_sentence, tts_started,
        tts_first_audio, audio_started.
        """
        self.marks.setdefault(moment, self.clock() if at is None else at)
        if provider is not None:
            self.providers.setdefault(moment, provider)

    def _between(self, start: str, end: str) -> float | None:
        first = self.speech_ended if start == "speech_ended" else self.marks.get(start)
        last = self.marks.get(end)
        if first is None or last is None:
            return None
        return round(max(0.0, last - first), 4)

    def finish(self, *, llm_providers: list[str] | None = None, fallback: bool = False, interrupted: bool = False,
               cut: bool = False, error: str | None = None) -> TurnMetrics:
        gaps = [self._between("decided", "llm_requested"), self._between("first_sentence", "tts_started"),
                self._between("tts_first_audio", "audio_started")]
        bot_session_id, lobby_id, profile, speaker = self.ids
        return TurnMetrics(
            turn_id=uuid.uuid4().hex,
            bot_session_id=bot_session_id,
            lobby_id=lobby_id,
            profile=profile,
            speaker_session_id=speaker,
            speech_ended_at=datetime.fromtimestamp(self.speech_ended_wall, timezone.utc),
            transcription=self._between("speech_ended", "transcribed"),
            end_of_turn=self._between("speech_ended", "decided"),
            llm_first_token=self._between("llm_requested", "llm_first_token"),
            tts_first_audio=self._between("tts_started", "tts_first_audio"),
            voice_to_voice=self._between("speech_ended", "audio_started"),
            overhead=round(sum(gaps), 4) if all(gap is not None for gap in gaps) else None,  # type: ignore[misc]
            stt_provider=self.providers.get("transcribed"),
            llm_provider=self.providers.get("llm_first_token"),
            llm_providers=list(llm_providers or []),
            tts_provider=self.providers.get("tts_first_audio"),
            fallback=fallback,
            interrupted=interrupted,
            cut=cut,
            error=error,
        )


STAGE_PROVIDERS = {"transcription": "stt_provider", "llm_first_token": "llm_provider",
                   "tts_first_audio": "tts_provider"}


def turn_observe(metrics: TurnMetrics) -> None:
    """Add one turn to this process's Prometheus histograms and counters."""
    for stage in STAGES:
        value = getattr(metrics, stage)
        if value is not None:
            provider = getattr(metrics, STAGE_PROVIDERS[stage]) if stage in STAGE_PROVIDERS else ""
            TURN_SECONDS.labels(stage, provider or "").observe(value)
    TURNS.labels(metrics.outcome).inc()
    if metrics.fallback and metrics.llm_provider:
        LLM_FALLBACKS.labels(metrics.llm_provider).inc()
