"""A coroutine run in the caller's call up to its first suspension, and the rest of it awaited later.

Most of what a socket does (a frame handled, a frame handed to the ASGI
server) finishes without suspending. Running such a coroutine in the caller's
call, with ``coro.send(None)``, costs no task, no loop callback and no wake-up;
only a coroutine that does suspend is handed on (``Started``) to be awaited by
a task. asyncio's eager tasks (Python 3.12) do the same; this project runs on
3.11.
"""
from __future__ import annotations

from collections.abc import Coroutine, Generator
from typing import Any


class Started:
    """Awaits a coroutine that already ran up to its first suspension, where it yielded ``suspended_on``.

    Awaiting it in a task hands that suspension to the task (a future to
    wait for, as a task's step expects) and then runs the coroutine on,
    passing in whatever the task throws (a cancellation).
    """

    __slots__ = ("coro", "suspended_on")

    def __init__(self, coro: Coroutine[Any, Any, Any], suspended_on: Any) -> None:
        self.coro = coro
        self.suspended_on = suspended_on

    def __await__(self) -> Generator[Any, None, None]:
        coro = self.coro
        try:
            yield self.suspended_on
        except BaseException as exc:  # noqa: BLE001 - handed to the coroutine, as `await` would
            try:
                self.suspended_on = coro.throw(exc)
            except StopIteration:
                return
            yield from self.__await__()
            return
        yield from coro.__await__()


def run_eagerly(coro: Coroutine[Any, Any, Any]) -> Started | None:
    """Run ``coro`` up to its end (None) or its first suspension (what to await for the rest); raises what it raises."""
    try:
        suspended_on = coro.send(None)
    except StopIteration:
        return None
    return Started(coro, suspended_on)
