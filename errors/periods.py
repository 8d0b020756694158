"""Reading the time spans operators type: ``30m``, ``24h``, ``7d``, ``2w``, or an ISO date."""
from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta

from django.utils import timezone

_SPAN = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$", re.IGNORECASE)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class PeriodError(ValueError):
    """A span or date that cannot be read; the message says what is accepted."""


def span_parse(text: str) -> timedelta:
    """``24h`` -> timedelta(hours=24). Units: s, m, h, d, w."""
    match = _SPAN.match(text or "")
    if match is None:
        raise PeriodError(f"{text!r} is not a span: write a number and a unit, e.g. 30m, 24h, 7d or 2w.")
    return timedelta(**{_UNITS[match.group(2).lower()]: int(match.group(1))})


def since_parse(text: str, *, now: datetime | None = None) -> datetime:
    """A span back from now (``24h``) or an ISO date or date-time (``2026-01-31``, ``2026-01-31T12:00``)."""
    if _SPAN.match(text or ""):
        return (now or timezone.now()) - span_parse(text)
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        try:
            moment = datetime.combine(date.fromisoformat(text.strip()), time.min)
        except ValueError:
            raise PeriodError(
                f"{text!r} is neither a span (24h, 7d) nor an ISO date (2026-01-31 or 2026-01-31T12:00)."
            ) from None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, timezone.get_default_timezone())
    return moment
