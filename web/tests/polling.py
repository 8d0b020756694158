"""Waiting in tests for what happens in its own time: a check polled until it holds.

``eventually`` (in an event loop; the check may be sync or async) and
``wait_until`` (a plain thread) return the check's first truthy result, or
fail after ``deadline`` seconds saying what was awaited and what the check
last gave.
"""
from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import Any

# Seconds a test waits for something a real server, browser or bot does in its own time.
DEADLINE = 20.0


def _timed_out(deadline: float, what: str, last: Any) -> AssertionError:
    return AssertionError(f"timed out after {deadline:g} s waiting for {what}; last: {last!r}")


async def eventually(
    check: Callable[[], Any], *, deadline: float = DEADLINE, interval: float = 0.2, what: str = "",
    soft: bool = False,
) -> Any:
    """Polls ``check`` (a function, or a coroutine function) until it returns something truthy.

    ``soft``: after ``deadline``, return the last falsy result instead of
    failing (for a wait that only makes a picture nicer).
    """
    end = time.monotonic() + deadline
    while True:
        last = check()
        if inspect.isawaitable(last):
            last = await last
        if last:
            return last
        if time.monotonic() > end:
            if soft:
                return last
            raise _timed_out(deadline, what or repr(check), last)
        await asyncio.sleep(interval)


def wait_until(check: Callable[[], Any], *, deadline: float = DEADLINE, interval: float = 0.2, what: str = "") -> Any:
    """``eventually`` for a thread with no event loop: sleeps between the looks."""
    end = time.monotonic() + deadline
    while True:
        last = check()
        if last:
            return last
        if time.monotonic() > end:
            raise _timed_out(deadline, what or repr(check), last)
        time.sleep(interval)
