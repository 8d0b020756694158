"""One consumer's message loop: its socket's frames and its channel's messages, in arrival order.

Channels' ``await_many_dispatch`` waits with ``asyncio.wait`` over a fresh
task per source after every message: a task, a wait future and its callbacks
per frame, a large part of what relaying one frame cost. Here each source
has one pump task for the consumer's life, feeding a small bounded box
that the loop reads; a full box makes the pumps wait, so a slow consumer
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


class _Mailbox:
    """A bounded first-in first-out box for one consumer.

    What ``asyncio.Queue`` does here, in a list and a future or two: a Queue
    holds three deques and an Event, about 3 KB, and every socket has one.
    """

    __slots__ = ("loop", "items", "getter", "waiting")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.items: list[Any] = []
        self.getter: asyncio.Future[None] | None = None
        self.waiting: list[asyncio.Future[None]] = []  # pumps waiting for room

    async def put(self, item: Any) -> None:
        while len(self.items) >= QUEUE_SIZE:
            room = self.loop.create_future()
            self.waiting.append(room)
            try:
                await room
            finally:
                if room in self.waiting:
                    self.waiting.remove(room)
        self.items.append(item)
        if self.getter is not None and not self.getter.done():
            self.getter.set_result(None)

    async def get(self) -> Any:
        while not self.items:
            self.getter = self.loop.create_future()
            try:
                await self.getter
            finally:
                self.getter = None
        item = self.items.pop(0)
        if self.waiting:
            room = self.waiting.pop(0)
            if not room.done():
                room.set_result(None)
        return item


async def dispatch_from(
    sources: Sequence[Callable[[], Awaitable[dict[str, Any]]]],
    dispatch: Callable[[dict[str, Any]], Awaitable[None]],
) -> None:
    """Hand every message of ``sources`` to ``dispatch``, one at a time, until one raises."""
    box = _Mailbox(asyncio.get_running_loop())

    async def pump(source: Callable[[], Awaitable[dict[str, Any]]]) -> None:
        try:
            while True:
                await box.put(await source())
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - handed to the loop, which raises it
            await box.put(_SourceFailed(exc))

    pumps = [asyncio.ensure_future(pump(source)) for source in sources]
    try:
        while True:
            message = await box.get()
            if isinstance(message, _SourceFailed):
                raise message.exc
            await dispatch(message)
    finally:
        for task in pumps:
            task.cancel()
        await asyncio.gather(*pumps, return_exceptions=True)
