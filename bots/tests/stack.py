"""A server and bot workers as real processes in a loopback-only network namespace, for the bot tests.

The server is ``manage.py serve`` with no worker of its own; the tests start,
kill and stop ``manage.py runbots`` processes themselves. ``rows`` reads the
server's database (its SQLite file, or its Postgres database through the
bridge) to see which worker holds which bot.
"""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bots.runtime.ice import ice_addresses_apply
from web.tests import netns
from web.tests.live_server import BASE_DIR, LiveServer, ServerBackends
from web.tests.polling import wait_until

# Bots leave "starting" after this long in the tests (30 s in production).
START_TIMEOUT = "4"


def stack_env(env: dict[str, str]) -> dict[str, str]:
    return {
        **env,
        "VOICEBOT_BOT_WORKERS": "0",
        # aioice offers no loopback candidate by itself, and loopback is all the namespace has.
        "VOICEBOT_BOT_ICE_ADDRESSES": "127.0.0.1",
        "VOICEBOT_BOT_START_TIMEOUT": START_TIMEOUT,
        "VOICEBOT_SESSION_RATE": "10000/1 minute",
        "VOICEBOT_ERROR_WRITER": "background",
        "LOG_LEVEL": "INFO",
    }


class WorkerProcess:
    def __init__(self, env: dict[str, str], server_url: str, log_path: Path, *, capacity: int = 4) -> None:
        self.log_path = log_path
        self.log = log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "runbots", "--server-url", server_url, "--capacity", str(capacity)],
            cwd=BASE_DIR, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def kill(self) -> None:
        """SIGKILL: no cleanup at all."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self, timeout: float = 20) -> int:
        """SIGTERM, and wait for the clean stop."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.log.close()
        return self.process.returncode

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


class BotStack:
    def __init__(self, backends: ServerBackends, workdir: Path, env: dict[str, str]) -> None:
        self.backends = backends
        self.workdir = workdir
        self.env = stack_env(env)
        self.server = LiveServer(self.env, workdir / "server.log", server="uvicorn")
        self.workers: list[WorkerProcess] = []

    def start(self) -> None:
        self.server.start()

    def worker(self, *, capacity: int = 4, wait: bool = True, env: dict[str, str] | None = None) -> WorkerProcess:
        """A new worker process (``env`` added to the stack's); with ``wait``, once it has registered."""
        worker = WorkerProcess({**self.env, **(env or {})}, self.server.url, self.workdir / f"worker-{len(self.workers)}.log",
                               capacity=capacity)
        self.workers.append(worker)
        if wait:
            def registered() -> bool:
                if worker.process.poll() is not None:
                    raise AssertionError(f"the worker exited with {worker.process.returncode}:\n{worker.log_text()}")
                return worker.pid in self.worker_ids()

            wait_until(registered, deadline=30, what="the worker's registration")
        return worker

    def stop(self) -> None:
        for worker in self.workers:
            if worker.process.poll() is None:
                worker.stop()
        self.server.stop()

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """A query on the server's database ("%s" placeholders)."""
        url = self.env["DATABASE_URL"]
        if url.startswith("sqlite:///"):
            with sqlite3.connect(url.removeprefix("sqlite:///"), timeout=20) as conn:
                return conn.execute(sql.replace("%s", "?"), params).fetchall()
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            return conn.execute(sql, params).fetchall()

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> None:
        """A write on the server's database ("%s" placeholders), committed."""
        url = self.env["DATABASE_URL"]
        if url.startswith("sqlite:///"):
            with sqlite3.connect(url.removeprefix("sqlite:///"), timeout=20) as conn:
                conn.execute(sql.replace("%s", "?"), params)
            return
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql, params)

    def holders(self) -> dict[str, str | None]:
        """bot session id -> the worker that holds it."""
        return dict(self.rows("SELECT session_id, worker_id FROM bots_bot"))

    def behaviour_stats(self, worker: WorkerProcess, bot_id: str) -> dict[str, Any]:
        """What bot ``bot_id``'s behaviour told at ``worker``'s last heartbeat ({} before the first)."""
        rows = self.rows("SELECT stats FROM bots_botworker WHERE pid = %s", (worker.pid,))
        if not rows:
            return {}
        stats = json.loads(rows[0][0]) if isinstance(rows[0][0], str) else rows[0][0]
        return (stats or {}).get("behaviours", {}).get(bot_id, {})

    def worker_ids(self) -> dict[int, str]:
        """pid -> worker id of the registered workers."""
        return {pid: worker_id for worker_id, pid in self.rows("SELECT id, pid FROM bots_botworker")}

    def logs(self) -> str:
        parts = [f"--- server\n{self.server.log_tail(20000)}"]
        parts += [f"--- worker {n}\n{w.log_text()[-20000:]}" for n, w in enumerate(self.workers)]
        return "\n".join(parts)


@contextmanager
def namespaced_stack(workdir: Path, env: dict[str, str] | None = None) -> Iterator[BotStack]:
    """A started server (``env`` added to its environment) in a network namespace that has only loopback.

    The caller has checked ``netns.unavailable_reason()``. The aiortc
    participants of the tests and benchmarks are told to offer loopback
    candidates (aioice leaves loopback out, and loopback is all there is).
    """
    ice_addresses_apply(["127.0.0.1"])
    backends = ServerBackends(workdir)
    backends.prepare()
    try:
        with netns.loopback_only_namespace():
            stack = BotStack(backends, workdir, backends.open_inside())
            stack.env.update(env or {})
            stack.start()
            try:
                yield stack
            finally:
                stack.stop()
    finally:
        backends.close()
