"""What a socket has yet to send: a bounded queue in front of the server's send.

An ASGI server's ``send`` waits while the client does not read (uvicorn waits
for its transport to drain). A consumer that awaited it would stop reading its
inbox, its inbox would fill, and the peers relaying to it would be refused.
Instead the consumer hands every message to its ``Outbox``, which returns at
once: it hands the message to the server in that call when nothing waits
before it (a send that finishes at once, the usual case), and while sends
must wait for the client a writer task feeds the server in order. What waits is
bounded in frames and in bytes (``VOICEBOT_SEND_QUEUE_FRAMES``,
``VOICEBOT_SEND_QUEUE_BYTES``): past either, the outbox drops what waits and
reports ``overflowed``, and the consumer closes the socket (policy_violation,
4008) and leaves its lobby as a dropped socket does.

A send that fails because the client is gone (uvicorn's ``ClientDisconnected``
is an ``OSError``) ends the writer quietly: the server delivers the socket's
``websocket.disconnect`` next, and the consumer's disconnect handling runs.
"""
from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from signaling.eager import Started, run_eagerly

logger = logging.getLogger("voicebot.signaling")

Send = Callable[[dict[str, Any]], Awaitable[None]]


def message_size(message: dict[str, Any]) -> int:
    """Bytes a message takes on the wire, near enough (text counted in characters)."""
    text = message.get("text")
    if text is not None:
        return len(text)
    data = message.get("bytes")
    return len(data) if data is not None else 0


class Outbox:
    __slots__ = ("_send", "max_frames", "max_bytes", "_queue", "_bytes", "_writer", "gone", "overflowed", "closed")

    def __init__(self, send: Send, *, max_frames: int, max_bytes: int) -> None:
        self._send = send
        self.max_frames = max_frames
        self.max_bytes = max_bytes
        # What waits behind a send that had to wait; None while nothing does: an empty
        # deque is 600 bytes, and most sockets never have a send wait.
        self._queue: deque[dict[str, Any]] | None = None
        self._bytes = 0
        self._writer: asyncio.Task[None] | None = None  # only while a send waits for the client
        self.gone = False  # the client is gone: nothing more is sent
        self.overflowed = False  # the bound was passed: what waited was dropped
        self.closed = False  # a websocket.close was handed over

    @property
    def waiting(self) -> tuple[int, int]:
        """(frames, bytes) waiting to be sent."""
        return len(self._queue or ()), self._bytes

    async def put(self, message: dict[str, Any]) -> None:
        """Queue ``message`` (the consumer's ``base_send``); never waits for the client."""
        self.put_nowait(message)

    def put_nowait(self, message: dict[str, Any]) -> None:
        """``put`` from code that does not await (a relay handed over by its sender's call)."""
        if self.gone or self.closed:
            return
        if message["type"] == "websocket.close":
            self.closed = True
        size = message_size(message)
        if self._writer is None and size <= self.max_bytes and self.max_frames > 0:
            # Nothing waits (the queue is empty whenever no writer runs): straight to the server.
            self._send_now(message)
            return
        queue = self._queue
        if queue is None:
            queue = self._queue = deque()
        queue.append(message)
        self._bytes += size
        if not self.overflowed and (len(queue) > self.max_frames or self._bytes > self.max_bytes):
            self._overflow()

    def _send_now(self, message: dict[str, Any]) -> None:
        """Hand ``message`` to the server in this call; a writer task takes over if the send must wait.

        An ASGI server's send usually finishes without suspending (uvicorn
        writes to its transport at once): the coroutine is run here, up to its
        end or its first suspension (``signaling.eager``), instead of waking a
        writer task for every frame. Only a send that must wait (the client
        is slow to read) gets a task, which finishes it and then sends what
        queued up behind it.
        """
        try:
            started = run_eagerly(self._send(message))
        except OSError:
            self._client_gone()
            return
        except Exception:  # noqa: BLE001 - the server refused the message: this socket can send no more
            logger.exception("the server refused a message for this socket")
            self._client_gone()
            return
        if started is not None:
            self._writer = asyncio.ensure_future(self._write(started))

    def _client_gone(self) -> None:
        # The client went away; its websocket.disconnect is on its way.
        self.gone = True
        self._queue = None
        self._bytes = 0

    def _overflow(self) -> None:
        logger.warning("socket send queue over its bound (%d frames, %d bytes waiting): the client does not read",
                       len(self._queue or ()), self._bytes)
        self.overflowed = True
        self._queue = None
        self._bytes = 0

    async def _write(self, started: Started) -> None:
        """Finish the send that had to wait, then send what queued up meanwhile; ends with the backlog."""
        try:
            await started
            while self._queue:
                message = self._queue.popleft()
                self._bytes -= message_size(message)
                await self._send(message)
            self._queue = None  # nothing waits any more
        except OSError:
            self._client_gone()
        except Exception:  # noqa: BLE001 - as in _send_now
            logger.exception("the server refused a message for this socket")
            self._client_gone()
        finally:
            self._writer = None

    async def drain(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for what waits to be sent; True when it was."""
        writer = self._writer
        if writer is None or writer.done() or not self.closed:
            return not self._queue
        done, _ = await asyncio.wait([writer], timeout=timeout)
        return bool(done)

    async def aclose(self) -> None:
        """The consumer is finished: stop the writer (whatever waits is dropped)."""
        self.gone = True
        self._queue = None
        writer = self._writer
        if writer is not None and not writer.done():
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
