"""Processes for benchmarks and multi-process tests: a redis-server, the bare relay, the ASGI floor, PeerJS.

``manage.py serve`` itself is ``web.tests.live_server.LiveServer``, shared with the tests.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from web.tests.live_server import BASE_DIR, LiveServer, free_port

START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0


class RedisServer:
    """A throwaway redis-server on a free loopback port (nothing saved to disk)."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @staticmethod
    def available() -> bool:
        return shutil.which("redis-server") is not None

    def start(self) -> None:
        import redis

        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (Debian: apt-get install redis-server).")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                client.ping()
                return
            except redis.exceptions.ConnectionError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"redis-server on port {self.port} did not start") from None
                time.sleep(0.05)
            finally:
                client.close()

    def stop(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(STOP_TIMEOUT)
            self.process = None


class BareRelayProcess(LiveServer):
    """``bench/bare_relay.py`` (a plain websockets relay, no Django) on a free loopback port."""

    def __init__(self, log_path: Path) -> None:
        super().__init__(dict(os.environ), log_path, server="the bare relay", source=BASE_DIR)

    def command(self) -> list[str]:
        return [sys.executable, "-m", "bench.bare_relay", "--port", str(self.port)]

    def ready(self) -> bool:
        """Whether the relay accepts connections yet (it has no /livez)."""
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=2).close()
            return True
        except OSError:
            return False


class ASGIRelayProcess(BareRelayProcess):
    """``bench/asgi_relay.py`` (the ASGI floor: a relay that does next to nothing) under uvicorn or granian."""

    def __init__(self, log_path: Path, asgi_server: str) -> None:
        super().__init__(log_path)
        self.asgi_server = asgi_server
        self.server = f"the ASGI floor ({asgi_server})"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "bench.asgi_relay", "--port", str(self.port), "--server", self.asgi_server]


PEERJS_BIN = BASE_DIR / "bench" / "node_modules" / "peer" / "dist" / "bin" / "peerjs.js"
# The PeerJS server drops a client it has not heard from for this long; its
# clients send a heartbeat, the load generator does not: raised for the run.
PEERJS_ALIVE_TIMEOUT_MS = 3_600_000


class PeerJSProcess(BareRelayProcess):
    """The PeerJS server (npm ``peer``, pinned in bench/package.json; ``make bench`` installs it) under Node."""

    def __init__(self, log_path: Path) -> None:
        super().__init__(log_path)
        self.server = "peerjs"

    @staticmethod
    def missing() -> str | None:
        if shutil.which("node") is None:
            return "Node.js is not installed"
        if not PEERJS_BIN.exists():
            return f"{PEERJS_BIN} is missing: make bench installs it (npm ci in bench/)"
        return None

    def command(self) -> list[str]:
        node = shutil.which("node") or "node"
        return [node, str(PEERJS_BIN), "--host", "127.0.0.1", "--port", str(self.port), "--key", "peerjs",
                "--alive_timeout", str(PEERJS_ALIVE_TIMEOUT_MS), "--concurrent_limit", "20000"]
