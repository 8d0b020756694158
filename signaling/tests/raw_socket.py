"""A WebSocket as an ASGI server holds it, for tests that need what WebsocketCommunicator cannot do.

``RawSocket`` runs the real application (the whole middleware stack) with a
``send`` that behaves as uvicorn's does: it waits while the client does not
read (``stall()``), and once the connection is lost it raises
``ClientDisconnected`` while the ``websocket.disconnect`` waits in the
receive queue (``lose()``), which is the race of a lobby event sent to a
socket that is closing.
"""
from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.protocols.utils import ClientDisconnected


class RawSocket:
    def __init__(self, path: str, *, headers: list[tuple[bytes, bytes]] | None = None,
                 client: tuple[str, int] = ("127.0.0.1", 50000)) -> None:
        path, _, query = path.partition("?")
        self.scope = {
            "type": "websocket", "path": path, "raw_path": path.encode(), "query_string": query.encode(),
            "headers": headers or [], "subprotocols": [], "client": client, "server": ("127.0.0.1", 8000),
            "scheme": "ws", "asgi": {"version": "3.0"},
        }
        self.incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.sent: list[dict[str, Any]] = []
        self.new = asyncio.Event()
        self.writable = asyncio.Event()
        self.writable.set()
        self.disconnected = False
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        from voicebot_site.asgi import application

        self.task = asyncio.ensure_future(application(self.scope, self.incoming.get, self.send))
        await self.incoming.put({"type": "websocket.connect"})
        message = await self.next_message()
        assert message["type"] == "websocket.accept", message

    async def send(self, message: dict[str, Any]) -> None:
        await self.writable.wait()
        if self.disconnected:
            raise ClientDisconnected()
        self.sent.append(message)
        self.new.set()

    async def next_message(self, timeout: float = 5) -> dict[str, Any]:
        async def wait() -> dict[str, Any]:
            while not self.sent:
                self.new.clear()
                await self.new.wait()
            return self.sent.pop(0)

        return await asyncio.wait_for(wait(), timeout)

    async def receive_json(self, timeout: float = 5) -> dict[str, Any]:
        message = await self.next_message(timeout)
        assert message["type"] == "websocket.send", message
        return json.loads(message["text"])

    async def send_json(self, frame: dict[str, Any]) -> None:
        await self.incoming.put({"type": "websocket.receive", "text": json.dumps(frame)})

    def stall(self) -> None:
        """The client stops reading: sends wait, as on a full transport."""
        self.writable.clear()

    def lose(self) -> None:
        """The connection is lost: sends raise from now on; the disconnect is queued but not yet handled."""
        self.disconnected = True
        self.writable.set()

    def disconnect(self, code: int = 1006) -> None:
        self.incoming.put_nowait({"type": "websocket.disconnect", "code": code})

    async def finished(self, timeout: float = 10) -> None:
        assert self.task is not None
        await asyncio.wait_for(asyncio.shield(self.task), timeout)

    async def aclose(self) -> None:
        if self.task is not None and not self.task.done():
            self.lose()
            self.disconnect()
            try:
                await asyncio.wait_for(self.task, 10)
            except (Exception, asyncio.CancelledError):  # noqa: BLE001 - teardown
                self.task.cancel()
