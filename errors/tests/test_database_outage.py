"""A real Postgres goes away under a running server and comes back: no error is lost.

The server is a real daphne (``manage.py serve``) on a free port, on a
Postgres cluster of this test's own, which the test stops and starts again
on the same port. Afterwards the stored rows are counted in that database.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from websockets.asyncio.client import connect

from errors.spill import spilled
from errors.tests.servers import PostgresCluster, free_port, wait_for_port
from web.tests.polling import wait_until

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cluster() -> Iterator[PostgresCluster]:
    own = PostgresCluster()
    try:
        own.start()
        yield own
    finally:
        own.remove()


class Server:
    def __init__(self, cluster: PostgresCluster, folder: Path) -> None:
        self.port = free_port()
        self.spill = folder / "error-spill.jsonl"
        self.env = {
            **{k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DJANGO_SETTINGS_MODULE"}},
            "DJANGO_SETTINGS_MODULE": "voicebot_site.settings",
            "DATABASE_URL": cluster.url,
            "SECRET_KEY": "outage-test-key",
            "ALLOWED_HOSTS": "127.0.0.1",
            "VOICEBOT_PRESENCE_ENABLED": "0",
            "VOICEBOT_ERROR_WRITER": "background",
            "VOICEBOT_ERROR_FLUSH_INTERVAL": "0.2",
            "VOICEBOT_ERROR_BUFFER_SIZE": "20",
            "VOICEBOT_ERROR_SPILL_PATH": str(self.spill),
            "VOICEBOT_ERROR_SAMPLE_RATE": "10000/minute",
            "VOICEBOT_BAD_FRAME_LIMIT": "100000/10 seconds",
            "VOICEBOT_BREAKER_RECOVERY_TIMEOUT": "0.5",
            "LOG_LEVEL": "WARNING",
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.log = folder / "server.log"

    def manage(self, *args: str) -> None:
        subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, check=True,
                       stdout=subprocess.DEVNULL, timeout=120)

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "serve", "--server", "daphne", "--host", "127.0.0.1", "--port", str(self.port),
                 "--no-access-log"],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            )
        wait_for_port(self.port, up=True, timeout=30)

    def stop(self) -> int:
        """SIGTERM, as a service manager stops it; returns the exit status."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        status = self.process.wait(timeout=30)
        self.process = None
        return status

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def http(self, method: str, path: str, body: dict[str, Any] | None = None,
             token: str | None = None) -> tuple[int, dict[str, Any]]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())


def group_counts(cluster: PostgresCluster) -> dict[str, tuple[int, int]]:
    """code -> (the group's count, the sum of its events' weights), read from the database itself."""
    with psycopg.connect(f"host=127.0.0.1 port={cluster.port} user=postgres dbname=postgres") as db:
        rows = db.execute(
            "SELECT g.code, g.count, COALESCE(SUM(e.weight), 0) FROM errors_errorgroup g "
            "LEFT JOIN errors_errorevent e ON e.group_id = g.id GROUP BY g.code, g.count"
        ).fetchall()
    return {code: (count, weights) for code, count, weights in rows}


def once_up(predicate: Any) -> Any:
    """``predicate``, false while the database still refuses connections."""
    def check() -> Any:
        try:
            return predicate()
        except psycopg.OperationalError:
            return False

    return check


async def bad_frames(socket: Any, count: int) -> list[dict[str, Any]]:
    for i in range(count):
        await socket.send(json.dumps({"type": "no_such_type", "id": f"bad-{i}"}))
    return [json.loads(await socket.recv()) for _ in range(count)]


async def test_errors_wait_out_a_database_outage_and_a_shutdown_and_all_are_stored(
    cluster: PostgresCluster, tmp_path: Path
) -> None:
    server = Server(cluster, tmp_path)
    try:
        server.manage("migrate", "--noinput")
        server.start()
        status, session = server.http("POST", "/api/sessions", {"name": "Ann"})
        assert status == 201
        status, lobby = server.http("POST", "/api/lobbies", {"name": "Outage"}, token=session["token"])
        assert status == 201
        url = f"ws://127.0.0.1:{server.port}/ws/lobby/{lobby['id']}/?token={session['token']}"

        async with connect(url) as socket:
            await socket.send(json.dumps({"type": "join", "name": "Ann"}))
            assert json.loads(await socket.recv())["type"] == "joined"
            answers = await bad_frames(socket, 30)
            assert {a["code"] for a in answers} == {"unknown_message_type"}

            # The database goes away: bad frames are still answered, a chat is
            # told to retry, readyz names the database, livez stays up.
            cluster.stop()
            answers = await bad_frames(socket, 60)
            assert {a["code"] for a in answers} == {"unknown_message_type"}
            await socket.send(json.dumps({"type": "chat", "id": "c1", "text": "anyone?"}))
            refused = json.loads(await socket.recv())
            assert (refused["code"], refused["category"], refused["recovery"], refused["in_reply_to"]) == (
                "service_unavailable", "persistence", "retry", "c1")
            assert refused["retry_after"] > 0
            status, ready = server.http("GET", "/readyz")
            assert status == 503 and ready["checks"]["database"] == "unavailable"
            assert server.http("GET", "/livez")[0] == 200
            # 60 errors do not fit in a buffer of 20: the rest went to the spill file.
            wait_until(lambda: bool(spilled(server.spill)), deadline=30, what="occurrences spilled to disk")

            # The database returns on the same port: everything is written, exactly.
            cluster.start()
            wait_until(once_up(lambda: group_counts(cluster).get("unknown_message_type") == (90, 90)), deadline=30,
                       what="90 occurrences stored")
            assert group_counts(cluster)["service_unavailable"][0] >= 1

            # Down again, then the server is stopped (SIGTERM) while it is down:
            # what waits is kept on disk...
            cluster.stop()
            answers = await bad_frames(socket, 25)
            assert len(answers) == 25
        assert server.stop() == 0
        assert spilled(server.spill)
        # ...and the next server process stores it once the database is back.
        cluster.start()
        server.start()
        wait_until(once_up(lambda: group_counts(cluster).get("unknown_message_type") == (115, 115)), deadline=30,
                   what="115 occurrences stored")
        wait_until(lambda: not spilled(server.spill), deadline=30, what="the spill file drained")
        assert server.stop() == 0

        with psycopg.connect(f"host=127.0.0.1 port={cluster.port} user=postgres dbname=postgres") as db:
            [(where, category)] = db.execute(
                "SELECT e.where, g.category FROM errors_errorevent e JOIN errors_errorgroup g ON g.id = e.group_id "
                "WHERE e.correlation_id = %s", [refused["correlation_id"]]
            ).fetchall()
            tokens = db.execute(
                "SELECT count(*) FROM errors_errorevent WHERE context::text LIKE %s", [f"%{session['token']}%"]
            ).fetchone()[0]
        assert (where, category) == ("chat", "persistence")
        assert tokens == 0
    finally:
        server.kill()
