"""What the errors dashboard shows: a server-drawn SVG chart, top groups, breakers.

The chart is built here as plain shapes (no JavaScript, no CDN: nothing
outside is reachable from the server's users' networks either).
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from errors.choices import Category
from errors.selectors import error_group_list, error_hourly_by_category
from bots.selectors import worker_breakers
from resilience.registry import breaker_snapshots
from voicebot_site.charts import Segment, hourly_chart

CATEGORY_COLOURS = {
    Category.WEBSOCKET: "#4e79a7",
    Category.WEBRTC: "#59a14f",
    Category.SESSION: "#9c755f",
    Category.LOBBY: "#edc948",
    Category.AUTH: "#b07aa1",
    Category.PERSISTENCE: "#e15759",
    Category.NETWORK: "#f28e2b",
    Category.VALIDATION: "#76b7b2",
    Category.SYSTEM: "#ff9da7",
    Category.BOT: "#bab0ac",
}
TOP_GROUPS = 10


def nice_ceiling(value: int) -> int:
    """The axis maximum: 1, 2 or 5 times a power of ten, at least ``value``."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def chart_build(hours: list[dict[str, Any]]) -> dict[str, Any]:
    """Stacked bars, one per hour, one segment per category."""
    peak = max((sum(h["by_category"].values()) for h in hours), default=0)
    return hourly_chart([
        (hour["hour"], [Segment(count=count, colour=CATEGORY_COLOURS[category],
                                label=f"{hour['hour']:%H:00}: {count} {category.value}")
                        for category in Category if (count := hour["by_category"].get(category.value, 0))])
        for hour in hours
    ], top=nice_ceiling(max(peak, 1)))


def dashboard_context(*, now: datetime | None = None) -> dict[str, Any]:
    now = now or timezone.now()
    hourly = error_hourly_by_category(hours=24, now=now)
    return {
        "chart": chart_build(hourly["hours"]),
        "total_24h": hourly["total"],
        "legend": [
            {"category": c.value, "colour": CATEGORY_COLOURS[c], "count": hourly["by_category"].get(c.value, 0)}
            for c in Category
        ],
        "top_groups": error_group_list(since=now - timedelta(hours=24), limit=TOP_GROUPS),
        "breakers": breaker_snapshots(),
        # The bot workers call the language models and speech providers: their breakers, as they report them.
        "worker_breakers": worker_breakers(),
    }
