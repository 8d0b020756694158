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

A message that finds the loop idle (nothing handled, nothing waiting) is
handled by the pump that read it, in its own task: the loop's wake-up is a
large part of what a relayed frame costs, and most handlers finish without
waiting. Should the handler wait (a database call, a send that must wait), a
new pump takes over reading the source, so that frames are still read and
stamped as they arrive; the old pump ends with its handler. Either way one
message is handled at a time, in arrival order, and a handler's failure
ends the loop before anything that came after it is handled.
"""
from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

from signaling.eager import run_eagerly

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
        self.dispatching = False  # a message is being handled (its handler may be waiting)

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
        self.wake()

    def fail(self, exc: BaseException) -> None:
        """A handler run by a pump raised ``exc``: the loop raises it before taking anything else."""
        self.items.insert(0, _SourceFailed(exc))
        self.others += 1
        self.wake()

    def wake(self) -> None:
        """Wake the loop if something waits for it (a message came, or a pump's handler is done)."""
        if self.items and self.getter is not None and not self.getter.done():
            self.getter.set_result(None)

    @property
    def idle(self) -> bool:
        """Nothing is being handled and nothing waits: a message read now may be handled at once."""
        return not self.dispatching and not self.items

    @property
    def between_messages(self) -> bool:
        """No message is being handled and none but client frames waits: what came in before has been handled."""
        return not self.dispatching and self.others == 0

    async def get(self) -> Any:
        # While a pump handles a message, what came in meanwhile waits for it.
        while not self.items or self.dispatching:
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
    dispatch: Callable[[dict[str, Any]], Coroutine[Any, Any, None]],
    box: Mailbox | None = None,
) -> None:
    """Hand every message of ``sources`` to ``dispatch``, one at a time, until one raises.

    ``box`` is the consumer's (it may ask whether the loop is between messages); a new one by default.
    """
    if box is None:
        box = Mailbox(asyncio.get_running_loop())

    pumps: set[asyncio.Future[None]] = set()

    def start(source: Callable[[], Awaitable[dict[str, Any]]], context: contextvars.Context | None = None) -> None:
        task = box.loop.create_task(pump(source), context=context)
        pumps.add(task)
        task.add_done_callback(pumps.discard)

    async def pump(source: Callable[[], Awaitable[dict[str, Any]]]) -> None:
        try:
            while True:
                message = await source()
                if message.get("type") == "websocket.receive":
                    message[ARRIVED] = time.monotonic()
                if box.dispatching or box.items:  # not ``box.idle``: a property call per frame
                    await box.put(message)
                    continue
                box.dispatching = True
                # The new pump below must not inherit what the handler set in
                # this task's context (asgiref marks its database thread busy there).
                context = contextvars.copy_context()
                try:
                    # Run in this call; only a handler that waits is awaited, while a new pump reads on.
                    rest = run_eagerly(dispatch(message))
                    if rest is not None:
                        start(source, context)
                        await rest
                except asyncio.CancelledError:
                    raise
                except BaseException as exc:  # noqa: BLE001 - handed to the loop, which raises it
                    box.fail(exc)  # the loop runs only after the finally below has cleared ``dispatching``
                    return
                finally:
                    box.dispatching = False
                if box.items:
                    box.wake()
                if rest is not None:
                    return  # the new pump reads on
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - handed to the loop, which raises it
            await box.put(_SourceFailed(exc))

    for source in sources:
        start(source)
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
        running = list(pumps)
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
