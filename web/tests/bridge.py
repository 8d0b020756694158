"""Forwards TCP from inside the test namespace to a service on the host's loopback.

A namespace made by ``loopback_only_namespace`` has its own 127.0.0.1, so
the server under test cannot reach the host's Postgres or Redis there. A
``LoopbackBridge`` runs an event loop in a thread started *before* the
namespace, so its outgoing connections are made in the host namespace; its
listening socket is created by the test thread *inside* the namespace. The
server under test then talks to ``127.0.0.1:<bridge port>`` like any client.
"""
from __future__ import annotations

import asyncio
import socket
import threading
from concurrent.futures import Future
from typing import Any


class LoopbackBridge:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name=f"bridge-{target_port}", daemon=True)
        self.servers: list[asyncio.AbstractServer] = []
        self.tasks: set[asyncio.Task[Any]] = set()

    def start(self) -> None:
        """Starts the forwarding thread; call in the host namespace."""
        self.thread.start()

    def listen(self) -> int:
        """Opens the listening side in the calling thread's namespace; returns its port."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        sock.setblocking(False)
        port = sock.getsockname()[1]
        future: Future[asyncio.AbstractServer] = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, sock=sock), self.loop
        )
        self.servers.append(future.result(timeout=10))
        return port

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        try:
            try:
                up_reader, up_writer = await asyncio.wait_for(asyncio.open_connection(*self.target), 10)
            except (OSError, asyncio.TimeoutError):
                return
            try:
                await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
            finally:
                up_writer.close()
        finally:
            writer.close()
            self.tasks.discard(task)

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            if writer.can_write_eof():
                try:
                    writer.write_eof()
                except OSError:
                    pass

    def close(self) -> None:
        async def shutdown() -> None:
            for server in self.servers:
                server.close()
            for task in list(self.tasks):
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)

        if self.thread.is_alive():
            asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(timeout=10)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)
        self.loop.close()
