"""Rate windows kept by their owner: a socket's frames and bad frames, an error group's samples.

``Sampler`` keeps one window per key for the recorders that store a sample
of a flood and count the rest (error groups, audit events).

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

import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from functools import lru_cache
from typing import Any, TypeVar

from limits import RateLimitItem, parse


@lru_cache(maxsize=16)
def rate_parse(text: str) -> RateLimitItem:
    return parse(text)


Window = TypeVar("Window", "FixedWindow", "MovingWindow")


def window_for(window: Window | None, kind: type[Window], text: str) -> Window:
    """``window`` while the limit ``text`` (a setting) is still its own; a new ``kind`` of window once it changed."""
    limit = rate_parse(text)
    # rate_parse is cached: the same setting gives the same object, so `is` settles it on every frame.
    if window is None or (window.limit is not limit and window.limit != limit):
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


class Folded:
    """One key's occurrences beyond its sample since the last take: how many, the latest, and their tags."""

    __slots__ = ("count", "latest", "tags")

    def __init__(self) -> None:
        self.count = 0
        self.latest: Any = None
        self.tags: list[str] = []  # in arrival order, at most the sampler's ``max_tags``


class Sampler:
    """Per key (an error group, an address's kind of event): admit at most a limit's worth of
    occurrences per window, and fold the rest into a count with the latest of them.

    A folded occurrence may carry a tag (an error report's correlation id),
    kept with its key's count, at most ``max_tags`` of them per key between
    two takes. Thread-safe (occurrences come from any thread). With more
    than ``max_keys`` keys, the ones whose window is over are forgotten: a
    new one would open anyway.
    """

    def __init__(self, limit: Callable[[], str], *, max_keys: int = 10_000, max_tags: int = 0) -> None:
        self._limit = limit
        self.max_keys = max_keys
        self.max_tags = max_tags
        self._windows: dict[Hashable, FixedWindow] = {}
        self._folded: dict[Hashable, Folded] = {}
        self._lock = threading.Lock()

    def admit(self, key: Hashable, occurrence: Any, now: float | None = None, *, tag: str | None = None) -> bool:
        """True when ``occurrence`` is within its key's sample; else it is folded (and False)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            window = self._windows.get(key)
            if window is None:
                if len(self._windows) >= self.max_keys:
                    self._windows = {k: w for k, w in self._windows.items() if not w.ended(now)}
                window = self._windows[key] = FixedWindow(rate_parse(self._limit()))
            if window.hit(now) is None:
                return True
            folded = self._folded.get(key)
            if folded is None:
                folded = self._folded[key] = Folded()
            folded.count += 1
            folded.latest = occurrence
            if tag is not None and len(folded.tags) < self.max_tags:
                folded.tags.append(tag)
            return False

    def take_folded(self) -> list[Folded]:
        """Each key's folded occurrences since the last take."""
        with self._lock:
            folded, self._folded = self._folded, {}
        return list(folded.values())

    def folded_keys(self) -> int:
        return len(self._folded)

    def clear(self) -> None:
        with self._lock:
            self._windows = {}
            self._folded = {}
