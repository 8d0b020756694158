"""Server processes for benchmarks and multi-process tests: ``manage.py serve``, a redis-server, the bare relay."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO

from web.tests.live_server import BASE_DIR, free_port

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


class ServeProcess:
    """``manage.py serve --server NAME`` on a free loopback port, from ``source`` (a checkout)."""

    def __init__(self, env: dict[str, str], log_path: Path, *, server: str = "daphne",
                 source: Path = BASE_DIR, access_log: bool = False) -> None:
        self.env = env
        self.log_path = log_path
        self.server = server
        self.source = source
        self.access_log = access_log
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        command = [sys.executable, "manage.py", "serve", "--server", self.server,
                   "--host", "127.0.0.1", "--port", str(self.port)]
        if not self.access_log:
            command.append("--no-access-log")
        return command

    def ready(self) -> bool:
        """Whether the server answers yet (its /livez)."""
        try:
            with urllib.request.urlopen(f"{self.url}/livez", timeout=2) as response:
                return response.status == 200
        except (OSError, urllib.error.URLError):
            return False

    def start(self) -> None:
        self.log = self.log_path.open("ab")
        self.process = subprocess.Popen(self.command(), cwd=self.source, env=self.env, stdout=self.log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.server} exited with {self.process.returncode}:\n{self.log_tail()}")
            if self.ready():
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.server} did not answer within {START_TIMEOUT:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(STOP_TIMEOUT)
        self.process = None
        if self.log is not None:
            self.log.close()
            self.log = None

    def log_tail(self, limit: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-limit:]
        except OSError:
            return ""


class BareRelayProcess(ServeProcess):
    """``bench/bare_relay.py`` (a plain websockets relay, no Django) on a free loopback port."""

    def __init__(self, log_path: Path) -> None:
        super().__init__(dict(os.environ), log_path, server="bare", source=BASE_DIR)

    def command(self) -> list[str]:
        return [sys.executable, "-m", "bench.bare_relay", "--port", str(self.port)]

    def ready(self) -> bool:
        """Whether the relay accepts connections yet (it has no /livez)."""
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=2).close()
            return True
        except OSError:
            return False
