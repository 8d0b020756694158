"""/metrics with several server processes: every answer sums what all the workers counted."""
from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from web.tests.live_server import LiveServer, ServerBackends

pytestmark = pytest.mark.e2e

NOT_FOUND = re.compile(r'^voicebot_errors_total\{[^}]*code="not_found"[^}]*\} ([0-9.e+]+)$', re.M)


@pytest.fixture
def two_workers(tmp_path: Path, redis_url: str) -> Iterator[tuple[LiveServer, Path]]:
    backends = ServerBackends(tmp_path)
    backends.prepare()
    env = backends.env({"DATABASE_URL": backends.server_database_url, "REDIS_URL": redis_url})
    server = LiveServer(env, tmp_path / "server.log", server="uvicorn", workers=2, access_log=False)
    try:
        server.start()
        yield server, tmp_path / "metrics"
    finally:
        server.stop()
        backends.close()


def not_found_counted(server: LiveServer) -> float:
    with urllib.request.urlopen(f"{server.url}/metrics", timeout=5) as response:
        text = response.read().decode()
    return sum(float(value) for value in NOT_FOUND.findall(text))


def test_every_metrics_answer_sums_the_counter_of_both_workers(two_workers: tuple[LiveServer, Path]) -> None:
    server, metrics_dir = two_workers
    # The directory was emptied at start; each worker writes its own files there.
    requests = 0
    while requests < 400:
        try:
            urllib.request.urlopen(f"{server.url}/api/no-such-thing", timeout=5)
        except urllib.error.HTTPError as refused:
            assert refused.code == 404 and json.loads(refused.read())["code"] == "not_found"
        requests += 1
        writers = {path.name.rsplit("_", 1)[1] for path in metrics_dir.glob("counter_*.db")}
        if requests >= 40 and len(writers) >= 2:
            break
    assert len(writers) == 2, f"only {writers} wrote counters after {requests} requests"
    # Whichever worker answers, it tells the sum of both.
    answers = {not_found_counted(server) for _ in range(20)}
    assert answers == {float(requests)}
