"""One consumer's message loop: its socket's frames and its channel's messages, in arrival order.

Channels' ``await_many_dispatch`` waits with ``asyncio.wait`` over a fresh
task per source after every message: a task, a wait future and its callbacks
per frame, a large part of what relaying one frame cost. Here each source
has one pump task for the consumer's life, feeding a small bounded box
that the loop reads; a full box makes the pumps wait, so a slow consumer
still pushes back on its socket. Client frames are stamped with the time
they were read (``ARRIVED``), and the box holds up to a backlog of them
(``FRAME_BACKLOG_*``), so that a frame rate counts when frames came, not when a
held-up server got round to them. A source that is pushed rather than read
(the inbox of a socket whose channel layer delivers into it) needs no pump:
it puts its messages into the box itself (``Mailbox.push``). A failure of a
source is raised from the loop, as Channels does.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

# Channel-layer messages taken but not yet dispatched, at most.
QUEUE_SIZE = 8
# Client frames taken but not yet dispatched, at most (count and text size):
# frames are read as they arrive, so that each is stamped with its arrival
# and a server that was held up (a dependency stalled) does not count a backlog
# it caused against the client's frame rate.
FRAME_BACKLOG_FRAMES = 512
FRAME_BACKLOG_BYTES = 1024 * 1024
# The key of a client frame's arrival time (time.monotonic()) in its message.
ARRIVED = "voicebot_arrived"


class _SourceFailed:
    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def _frame_size(item: Any) -> int | None:
    """The size a client frame counts for in the backlog; None for anything else."""
    if isinstance(item, dict) and item.get("type") == "websocket.receive":
        text = item.get("text")
        data = item.get("bytes")
        return len(text) if text is not None else len(data or b"")
    return None


class Mailbox:
    """A bounded first-in first-out box for one consumer.

    What ``asyncio.Queue`` does here, in a list and a future or two: a Queue
    holds three deques and an Event, about 3 KB, and every socket has one.
    Client frames and the other messages have bounds of their own.
    """

    __slots__ = ("loop", "items", "getter", "waiting", "frames", "frame_bytes", "others", "dispatching")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.items: list[Any] = []
        self.getter: asyncio.Future[None] | None = None
        self.waiting: list[asyncio.Future[None]] = []  # pumps waiting for room
        self.frames = 0
        self.frame_bytes = 0
        self.others = 0
        self.dispatching = False  # the loop is handling a message (it may be waiting inside the handler)

    def _full(self, size: int | None) -> bool:
        if size is None:
            return self.others >= QUEUE_SIZE
        return self.frames > 0 and (
            self.frames >= FRAME_BACKLOG_FRAMES or self.frame_bytes + size > FRAME_BACKLOG_BYTES
        )

    async def put(self, item: Any) -> None:
        size = _frame_size(item)
        while self._full(size):
            room = self.loop.create_future()
            self.waiting.append(room)
            try:
                await room
            finally:
                if room in self.waiting:
                    self.waiting.remove(room)
        if size is None:
            self.others += 1
        else:
            self.frames += 1
            self.frame_bytes += size
        self._append(item)

    def push(self, item: Any) -> None:
        """A message put here by its sender's call, not by a pump (an inbox the layer delivers into).

        No bound here: the sender's side keeps it (``Inbox.deliver`` refuses
        past the channel's capacity).
        """
        self.others += 1
        self._append(item)

    def _append(self, item: Any) -> None:
        self.items.append(item)
        if self.getter is not None and not self.getter.done():
            self.getter.set_result(None)

    @property
    def between_messages(self) -> bool:
        """No message is being handled and none but client frames waits: what came in before has been handled."""
        return not self.dispatching and self.others == 0

    async def get(self) -> Any:
        while not self.items:
            self.getter = self.loop.create_future()
            try:
                await self.getter
            finally:
                self.getter = None
        item = self.items.pop(0)
        size = _frame_size(item)
        if size is None:
            self.others -= 1
        else:
            self.frames -= 1
            self.frame_bytes -= size
        while self.waiting:
            room = self.waiting.pop(0)
            if not room.done():
                room.set_result(None)
        return item


async def dispatch_from(
    sources: Sequence[Callable[[], Awaitable[dict[str, Any]]]],
    dispatch: Callable[[dict[str, Any]], Awaitable[None]],
    box: Mailbox | None = None,
) -> None:
    """Hand every message of ``sources`` to ``dispatch``, one at a time, until one raises.

    ``box`` is the consumer's (it may ask whether the loop is between messages); a new one by default.
    """
    if box is None:
        box = Mailbox(asyncio.get_running_loop())

    async def pump(source: Callable[[], Awaitable[dict[str, Any]]]) -> None:
        try:
            while True:
                message = await source()
                if message.get("type") == "websocket.receive":
                    message[ARRIVED] = time.monotonic()
                await box.put(message)
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
            box.dispatching = True
            try:
                await dispatch(message)
            finally:
                box.dispatching = False
    finally:
        for task in pumps:
            task.cancel()
        await asyncio.gather(*pumps, return_exceptions=True)
