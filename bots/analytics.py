"""The assistants' measured turns summed up: percentiles per profile and provider, and the last 24 hours.

Read by the admin's analytics page and ``manage.py bot_report``. Percentiles
are computed here from the stored turns of the window (linear interpolation
between the closest ranks, numpy's default and the standard library's
"inclusive" method, as Prometheus' ``histogram_quantile`` interpolates within a
bucket); the window is bounded by the retention of turns. The standard
library's, not numpy's: every server process loads this module (the admin),
and numpy would add 16 MB to each of them.
"""
from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from bots.models import Turn
from voicebot_site.charts import Segment, hourly_chart

STAGES = ("voice_to_voice", "transcription", "llm_first_token", "tts_first_audio", "end_of_turn", "overhead")
BAR_COLOUR = "#4e79a7"


def percentile(values: list[float], q: int) -> float | None:
    """The ``q``-th percentile (1 to 99) of ``values``, or None for no values."""
    if len(values) < 2:  # statistics.quantiles needs two points before Python 3.13
        return round(float(values[0]), 3) if values else None
    return round(statistics.quantiles(values, n=100, method="inclusive")[q - 1], 3)


@dataclass
class TurnSummary:
    profile: str
    provider: str
    turns: int
    answered: int
    interrupted: int
    failed: int
    fallbacks: int
    # stage -> {"p50": s, "p95": s, "p99": s} (None where no turn reached the stage)
    stages: dict[str, dict[str, float | None]]

    def as_dict(self) -> dict[str, Any]:
        return {"profile": self.profile, "provider": self.provider, "turns": self.turns, "answered": self.answered,
                "interrupted": self.interrupted, "failed": self.failed, "fallbacks": self.fallbacks,
                "stages": self.stages}


def _summary(profile: str, provider: str, rows: list[dict[str, Any]]) -> TurnSummary:
    stages = {}
    for stage in STAGES:
        values = [row[stage] for row in rows if row[stage] is not None]
        stages[stage] = {"p50": percentile(values, 50), "p95": percentile(values, 95), "p99": percentile(values, 99)}
    return TurnSummary(
        profile=profile, provider=provider, turns=len(rows),
        answered=sum(1 for row in rows if row["outcome"] == "answered"),
        interrupted=sum(1 for row in rows if row["interrupted"]),
        failed=sum(1 for row in rows if row["outcome"] == "failed"),
        fallbacks=sum(1 for row in rows if row["fallback"]),
        stages=stages,
    )


def turn_summaries(*, since: datetime, until: datetime | None = None,
                   profile: str | None = None) -> tuple[TurnSummary, list[TurnSummary]]:
    """All turns of the window, then one summary per (profile, language-model provider)."""
    turns = Turn.objects.filter(speech_ended_at__gte=since, speech_ended_at__lte=until or timezone.now())
    if profile is not None:
        turns = turns.filter(profile_id=profile)
    rows = list(turns.values("profile_id", "llm_provider", "outcome", "interrupted", "fallback", *STAGES))
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[(row["profile_id"] or "-", row["llm_provider"] or "-")].append(row)
    return _summary("all", "all", rows), [_summary(*key, groups[key]) for key in sorted(groups)]


def turns_hourly(*, hours: int = 24, now: datetime | None = None) -> list[dict[str, Any]]:
    """Each of the last ``hours`` hours: its turns and their voice-to-voice p50 and p95."""
    now = now or timezone.now()
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours - 1)
    buckets: dict[datetime, list[float | None]] = {start + timedelta(hours=n): [] for n in range(hours)}
    for ended, value in Turn.objects.filter(speech_ended_at__gte=start).values_list("speech_ended_at",
                                                                                      "voice_to_voice"):
        hour = ended.replace(minute=0, second=0, microsecond=0)
        if hour in buckets:
            buckets[hour].append(value)
    result = []
    for hour, values in buckets.items():
        timed = [value for value in values if value is not None]
        result.append({"hour": hour, "turns": len(values), "p50": percentile(timed, 50),
                       "p95": percentile(timed, 95)})
    return result


def chart_build(hours: list[dict[str, Any]]) -> dict[str, Any]:
    """Bars of turns per hour, each labelled with its voice-to-voice percentiles (drawn by the server, no script)."""
    def label(hour: dict[str, Any]) -> str:
        timing = (f", voice to voice p50 {hour['p50']:.2f} s, p95 {hour['p95']:.2f} s"
                  if hour["p50"] is not None else "")
        return f"{hour['hour']:%H:00}: {hour['turns']} turns{timing}"

    return hourly_chart([(hour["hour"], [Segment(count=hour["turns"], colour=BAR_COLOUR, label=label(hour))])
                         for hour in hours], top=max(1, max((hour["turns"] for hour in hours), default=0)))


def analytics_context(*, now: datetime | None = None) -> dict[str, Any]:
    now = now or timezone.now()
    total, summaries = turn_summaries(since=now - timedelta(hours=24), until=now)
    hourly = turns_hourly(now=now)
    return {"total": total, "summaries": summaries, "chart": chart_build(hourly), "stages": STAGES}
