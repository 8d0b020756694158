"""One consumer's message loop: its socket's frames and its channel's messages, in arrival order.

Channels' ``await_many_dispatch`` waits with ``asyncio.wait`` over a fresh
task per source after every message: a task, a wait future and its callbacks
per frame, a large part of what relaying one frame cost. Here each source
has one pump task for the consumer's life, feeding a small bounded queue
that the loop reads; a full queue makes the pumps wait, so a slow consumer
still pushes back on its socket. A failure of a source is raised from the
loop, as Channels does.
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

# Messages taken from the sources but not yet dispatched, at most.
QUEUE_SIZE = 8


class _SourceFailed:
    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


async def dispatch_from(
    sources: Sequence[Callable[[], Awaitable[dict[str, Any]]]],
    dispatch: Callable[[dict[str, Any]], Awaitable[None]],
) -> None:
    """Hand every message of ``sources`` to ``dispatch``, one at a time, until one raises."""
    queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=QUEUE_SIZE)

    async def pump(source: Callable[[], Awaitable[dict[str, Any]]]) -> None:
        try:
            while True:
                await queue.put(await source())
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - handed to the loop, which raises it
            await queue.put(_SourceFailed(exc))

    pumps = [asyncio.ensure_future(pump(source)) for source in sources]
    try:
        while True:
            message = await queue.get()
            if isinstance(message, _SourceFailed):
                raise message.exc
            await dispatch(message)
    finally:
        for task in pumps:
            task.cancel()
        await asyncio.gather(*pumps, return_exceptions=True)
