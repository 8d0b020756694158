"""Channel-layer work a socket's frames start, done in order but off the frame loop.

A frame's broadcast (the ``participant_updated`` of a ``set_muted``, a chat
line) and a relay to a socket of another process go through the channel
layer. Awaited in the frame loop, a stalled Redis held up every later frame
of the socket, relays to peers of the same process included, which need no
Redis at all. Here such work is queued, one task per socket runs it in the
order it was queued (so a peer gets one sender's relays in order), and the
frame loop goes on. A failure is reported as the frame's own error (its
``id`` as ``in_reply_to``), as if it had been awaited there.

At most ``DEFERRED_MAX`` items wait: past it, a frame's work is refused at
once as the layer being unavailable (the socket is far behind a stalled layer).
"""
from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

DEFERRED_MAX = 1000

Work = Callable[[], Awaitable[Any]]
OnError = Callable[[BaseException, str | None, str | None], Awaitable[None]]


class DeferredLayerWork:
    __slots__ = ("_on_error", "_queue", "_task", "_wake")

    def __init__(self, on_error: OnError) -> None:
        self._on_error = on_error
        # None while nothing is queued: an empty deque is 600 bytes, and most sockets queue nothing.
        self._queue: deque[tuple[Work, str | None, str | None]] | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Future[None] | None = None

    def __len__(self) -> int:
        return len(self._queue or ())

    def full(self) -> bool:
        return len(self) >= DEFERRED_MAX

    def submit(self, work: Work, *, frame_type: str | None, frame_id: str | None) -> None:
        queue = self._queue
        if queue is None:
            queue = self._queue = deque()
        queue.append((work, frame_type, frame_id))
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())
        elif self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while self._queue:
                work, frame_type, frame_id = self._queue.popleft()
                try:
                    await work()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - reported as the frame's error
                    await self._on_error(exc, frame_type, frame_id)
            self._queue = None  # done with all of it
            self._wake = loop.create_future()
            try:
                await self._wake
            finally:
                self._wake = None

    async def drain(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for what is queued to be done."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self._queue or (self._task is not None and self._wake is None and not self._task.done()):
            if asyncio.get_running_loop().time() >= deadline:
                return
            await asyncio.sleep(0.01)

    async def aclose(self) -> None:
        self._queue = None
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
