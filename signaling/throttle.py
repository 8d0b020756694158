"""The per-socket frame limit.

The limit is written as ``limits`` writes it (``"400/1 second"``) and parsed by
that library. The counting is done here: ``limits``' in-memory storage keeps
every key in one shared table and, while hits arrive, starts a timer thread
every 10 ms that scans all keys for expiry, a cost paid on every frame and
growing with the number of sockets. A socket's own fixed window needs no
shared table and no expiry: it lives and dies with the consumer.
"""
from __future__ import annotations

import time
from functools import lru_cache

from limits import RateLimitItem, parse


@lru_cache(maxsize=16)
def rate_parse(text: str) -> RateLimitItem:
    return parse(text)


class FrameWindow:
    """A fixed window: at most ``amount`` hits in ``period`` seconds from the window's first hit."""

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
