"""Reads of the errors app: statistics, group listings for reports and the dashboard.

Counts are of occurrences, not of rows: each event row counts as its
``weight`` (more than 1 for a row that stands for occurrences sampled away
under a storm), so the numbers stay exact.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Max, Min, Q, QuerySet, Sum, TextField
from django.db.models.functions import Cast, TruncHour
from django.utils import timezone

from errors.choices import SEVERITY_RANK, Severity, severities_at_least
from errors.models import ErrorEvent, ErrorGroup
from errors.occurrence import FOLDED_IDS

# What the boundary gives out as a correlation id: uuid4().hex.
CORRELATION_ID = re.compile(r"[0-9a-f]{32}")


def correlation_id_searched(search_term: str) -> str | None:
    """The correlation id a staff search asks for (any case, spaces around), or None when it is not one."""
    term = search_term.strip().lower()
    return term if CORRELATION_ID.fullmatch(term) else None


def error_events_of_correlation_id(correlation_id: str) -> QuerySet[ErrorEvent]:
    """The event stored under ``correlation_id``, or the weighted one that stands for it (beyond the sample).

    A weighted event lists the ids of the occurrences it stands for in its
    context (``FOLDED_IDS``); only weighted rows are searched for them.
    """
    folded = (ErrorEvent.objects.filter(weight__gt=1)
              .annotate(context_text=Cast("context", TextField()))
              .filter(context_text__contains=f'"{correlation_id}"', context__has_key=FOLDED_IDS))
    return ErrorEvent.objects.filter(Q(correlation_id=correlation_id) | Q(pk__in=folded.values("pk")))


def error_events_in_window(
    *,
    since: datetime,
    until: datetime | None = None,
    category: str | None = None,
    min_severity: str | None = None,
    status: str | None = None,
) -> QuerySet[ErrorEvent]:
    events = ErrorEvent.objects.filter(occurred_at__gte=since)
    if until is not None:
        events = events.filter(occurred_at__lt=until)
    if category:
        events = events.filter(group__category=category)
    if min_severity:
        events = events.filter(severity__in=severities_at_least(min_severity))
    if status:
        events = events.filter(group__status=status)
    return events


def error_statistics(*, since: datetime, until: datetime | None = None) -> dict[str, Any]:
    """Occurrences in [since, until) by category, severity, code and hour."""
    events = error_events_in_window(since=since, until=until)

    def by(field: str) -> dict[str, int]:
        rows = events.values(field).annotate(n=Sum("weight")).order_by(field)
        return {row[field]: row["n"] for row in rows}

    hours = (
        events.annotate(hour=TruncHour("occurred_at"))
        .values("hour", "group__category")
        .annotate(n=Sum("weight"))
        .order_by("hour")
    )
    by_hour: dict[datetime, dict[str, int]] = {}
    for row in hours:
        by_hour.setdefault(row["hour"], {})[row["group__category"]] = row["n"]
    by_severity = by("severity")
    return {
        "since": since,
        "until": until,
        "total": events.aggregate(n=Sum("weight"))["n"] or 0,
        "by_category": by("group__category"),
        "by_severity": dict(sorted(by_severity.items(), key=lambda item: SEVERITY_RANK[Severity(item[0])])),
        "by_code": by("group__code"),
        "by_hour": [
            {"hour": hour, "count": sum(categories.values()), "by_category": categories}
            for hour, categories in sorted(by_hour.items())
        ],
    }


@dataclass(frozen=True, slots=True)
class GroupInWindow:
    group: ErrorGroup
    # Occurrences of the group inside the window, and the first and last of them.
    count: int
    first_seen: datetime
    last_seen: datetime


def error_group_list(
    *,
    since: datetime,
    until: datetime | None = None,
    category: str | None = None,
    min_severity: str | None = None,
    status: str | None = None,
    limit: int | None = None,
) -> list[GroupInWindow]:
    """Groups with occurrences in the window, the most frequent first."""
    window = Q(events__occurred_at__gte=since)
    if until is not None:
        window &= Q(events__occurred_at__lt=until)
    if min_severity:
        window &= Q(events__severity__in=severities_at_least(min_severity))
    # One filter() for every condition on events: one join, which the sums
    # below then cover (a second filter on events would join them twice).
    groups = ErrorGroup.objects.filter(window)
    if category:
        groups = groups.filter(category=category)
    if status:
        groups = groups.filter(status=status)
    groups = groups.annotate(
        window_count=Sum("events__weight"),
        window_first=Min("events__occurred_at"),
        window_last=Max("events__occurred_at"),
    ).order_by("-window_count", "-window_last", "id")
    if limit is not None:
        groups = groups[:limit]
    return [
        GroupInWindow(group=g, count=g.window_count, first_seen=g.window_first, last_seen=g.window_last)
        for g in groups
    ]


def error_events_exist(
    *,
    since: datetime,
    until: datetime | None = None,
    min_severity: str,
    category: str | None = None,
    status: str | None = None,
) -> bool:
    """Whether any occurrence at or above ``min_severity`` falls in the window."""
    return error_events_in_window(
        since=since, until=until, min_severity=min_severity, category=category, status=status
    ).exists()


def error_hourly_by_category(*, hours: int = 24, now: datetime | None = None) -> dict[str, Any]:
    """The last ``hours`` whole hours (the current one included), each with its counts by category."""
    now = now or timezone.now()
    current = now.replace(minute=0, second=0, microsecond=0)
    start = current - timedelta(hours=hours - 1)
    stats = error_statistics(since=start)
    counted = {row["hour"]: row["by_category"] for row in stats["by_hour"]}
    slots = [start + timedelta(hours=i) for i in range(hours)]
    return {
        "hours": [{"hour": slot, "by_category": counted.get(slot, {})} for slot in slots],
        "total": stats["total"],
        "by_category": stats["by_category"],
    }
