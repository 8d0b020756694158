"""A real daphne (``manage.py serve``) for the browser tests, and its database.

The server runs inside the test namespace. On the embedded default it uses
an SQLite file of its own and the in-memory channel layer. When the suite
runs against Postgres and Redis (DATABASE_URL / REDIS_URL), the server gets
a database of its own on that Postgres and a key prefix of its own on that
Redis, both reached through LoopbackBridges.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit, urlunsplit

from web.tests.bridge import LoopbackBridge

BASE_DIR = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _with_host(url: str, host: str, port: int, path: str | None = None) -> str:
    parts = urlsplit(url)
    auth = parts.netloc.rpartition("@")[0]
    netloc = f"{auth}@{host}:{port}" if auth else f"{host}:{port}"
    return urlunsplit((parts.scheme, netloc, parts.path if path is None else path, parts.query, parts.fragment))


class ServerBackends:
    """The database and channel layer of the server under test."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.database_url = os.environ.get("DATABASE_URL", "")
        self.redis_url = os.environ.get("REDIS_URL", "")
        self.postgres_name = ""
        self.server_database_url = ""
        self.postgres_bridge: LoopbackBridge | None = None
        self.redis_bridge: LoopbackBridge | None = None
        self.inside: dict[str, str] = {}

    def prepare(self) -> None:
        """Creates and migrates the server's database, starts the bridges; call in the host namespace."""
        if self.database_url.startswith(("postgres://", "postgresql://")):
            import psycopg

            self.postgres_name = f"voicebot_web_{uuid.uuid4().hex[:12]}"
            with psycopg.connect(self.database_url, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{self.postgres_name}"')
            parts = urlsplit(self.database_url)
            self.server_database_url = _with_host(
                self.database_url, parts.hostname or "127.0.0.1", parts.port or 5432, f"/{self.postgres_name}"
            )
            self.postgres_bridge = LoopbackBridge(parts.hostname or "127.0.0.1", parts.port or 5432)
            self.postgres_bridge.start()
        else:
            self.server_database_url = f"sqlite:///{self.workdir / 'web-tests.sqlite3'}"
        if self.redis_url:
            parts = urlsplit(self.redis_url)
            self.redis_bridge = LoopbackBridge(parts.hostname or "127.0.0.1", parts.port or 6379)
            self.redis_bridge.start()
        run_manage(["migrate", "--noinput"], self.env({"DATABASE_URL": self.server_database_url}),
                   self.workdir / "migrate.log")

    def open_inside(self) -> dict[str, str]:
        """Opens the bridges' listening sides; call inside the namespace. Returns the server's env."""
        inside = {"DATABASE_URL": self.server_database_url}
        if self.postgres_bridge is not None:
            inside["DATABASE_URL"] = _with_host(self.server_database_url, "127.0.0.1", self.postgres_bridge.listen())
        if self.redis_bridge is not None:
            inside["REDIS_URL"] = _with_host(self.redis_url, "127.0.0.1", self.redis_bridge.listen())
        return self.env(inside)

    def env(self, backends: dict[str, str]) -> dict[str, str]:
        env = {
            key: value for key, value in os.environ.items()
            if not key.startswith(("PYTEST_", "DATABASE_URL", "REDIS_URL", "VOICEBOT_", "DJANGO_"))
        }
        env.update(
            DJANGO_SETTINGS_MODULE="voicebot_site.settings",
            DEBUG="0",
            SECRET_KEY="web-tests-" + uuid.uuid4().hex,
            ALLOWED_HOSTS="127.0.0.1,localhost",
            VOICEBOT_VAR_DIR=str(self.workdir),
            VOICEBOT_CHANNEL_PREFIX="voicebot-web-" + uuid.uuid4().hex[:8],
            # A restarted server notices the dead one's participants sooner.
            VOICEBOT_HEARTBEAT_INTERVAL="1",
            # No bot worker beside the server unless a test asks for one.
            VOICEBOT_BOT_WORKERS="0",
            PYTHONUNBUFFERED="1",
            **backends,
        )
        return env

    def close(self) -> None:
        """Closes the bridges and drops the database; call in the host namespace."""
        for bridge in (self.postgres_bridge, self.redis_bridge):
            if bridge is not None:
                bridge.close()
        if self.postgres_name:
            import psycopg

            with psycopg.connect(self.database_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.postgres_name}" WITH (FORCE)')


def run_manage(args: list[str], env: dict[str, str], log_path: Path) -> None:
    with log_path.open("ab") as log:
        result = subprocess.run([sys.executable, "manage.py", *args], cwd=BASE_DIR, env=env, stdout=log,
                                stderr=subprocess.STDOUT, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{log_path.read_text(errors='replace')[-4000:]}")


class LiveServer:
    """``manage.py serve`` on a loopback port, started and stopped by the tests and the benchmarks.

    The server is ``server``, else the environment's ``VOICEBOT_SERVER``, else
    daphne; ``source`` is the checkout it runs from.
    """

    def __init__(self, env: dict[str, str], log_path: Path, *, server: str | None = None,
                 source: Path = BASE_DIR, access_log: bool = True, workers: int = 1) -> None:
        self.env = env
        self.workers = workers
        self.log_path = log_path
        self.server = server or env.get("VOICEBOT_SERVER", "daphne")
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
        if self.workers > 1:
            command += ["--workers", str(self.workers)]
        return command if self.access_log else [*command, "--no-access-log"]

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

    def restart(self) -> None:
        """Stops the server and starts it again on the same port (sockets drop, data stays)."""
        self.stop()
        self.start()

    def log_tail(self, limit: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-limit:]
        except OSError:
            return ""
