"""Rate windows kept by their owner: a socket's frames and bad frames, an error group's samples.

Limits are written as ``limits`` writes them (``"400/1 second"``) and parsed
by that library. The counting is done here: ``limits``' in-memory storage
keeps every key in one shared table and, while hits arrive, starts a timer
thread every 10 ms that scans all keys for expiry. On the path of every
frame (and of every error) that thread and its scan cost more than the
check itself, and grow with the number of sockets. A window owned by the
socket or the group it counts needs no shared table and no expiry: it lives
and dies with its owner.
"""
from __future__ import annotations

import time
from collections import deque
from functools import lru_cache
from typing import TypeVar

from limits import RateLimitItem, parse


@lru_cache(maxsize=16)
def rate_parse(text: str) -> RateLimitItem:
    return parse(text)


Window = TypeVar("Window", "FixedWindow", "MovingWindow")


def window_for(window: Window | None, kind: type[Window], text: str) -> Window:
    """``window`` while the limit ``text`` (a setting) is still its own; a new ``kind`` of window once it changed."""
    limit = rate_parse(text)
    if window is None or window.limit != limit:
        return kind(limit)
    return window


class FixedWindow:
    """At most ``amount`` hits in ``period`` seconds from the window's first hit."""

    __slots__ = ("limit", "amount", "period", "started", "count")

    def __init__(self, limit: RateLimitItem) -> None:
        self.limit = limit
        self.amount = limit.amount
        self.period = float(limit.get_expiry())
        self.started = -self.period  # the first hit opens a window
        self.count = 0

    def hit(self, now: float | None = None) -> float | None:
        """Count a hit; None when it is allowed, else the seconds until the window ends."""
        now = time.monotonic() if now is None else now
        if now - self.started >= self.period:
            self.started = now
            self.count = 0
        self.count += 1
        if self.count <= self.amount:
            return None
        return self.started + self.period - now

    def ended(self, now: float) -> bool:
        return now - self.started >= self.period


class MovingWindow:
    """At most ``amount`` allowed hits in any ``period`` seconds (refused hits do not count)."""

    __slots__ = ("limit", "amount", "period", "hits")

    def __init__(self, limit: RateLimitItem) -> None:
        self.limit = limit
        self.amount = limit.amount
        self.period = float(limit.get_expiry())
        self.hits: deque[float] = deque()

    def hit(self, now: float | None = None) -> float | None:
        """Count a hit; None when it is allowed, else the seconds until the oldest hit leaves the window."""
        now = time.monotonic() if now is None else now
        while self.hits and now - self.hits[0] >= self.period:
            self.hits.popleft()
        if len(self.hits) < self.amount:
            self.hits.append(now)
            return None
        return self.hits[0] + self.period - now
