"""Forwarded headers are believed only from VOICEBOT_TRUSTED_PROXIES, on real uvicorn and daphne servers."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from web.tests.live_server import LiveServer, ServerBackends

pytestmark = pytest.mark.e2e


def session_status(server: LiveServer, forwarded_for: str) -> int:
    request = urllib.request.Request(server.url + "/api/sessions", data=b"{}",
                                     headers={"X-Forwarded-For": forwarded_for})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as refused:
        body = json.loads(refused.read())
        assert body["code"] == "rate_limited" and body["retry_after"] > 0
        return refused.code


def serve(tmp_path: Path, server_name: str, **env: str) -> Iterator[LiveServer]:
    backends = ServerBackends(tmp_path)
    backends.prepare()
    live = LiveServer({**backends.open_inside(), "VOICEBOT_SERVER": server_name,
                       "VOICEBOT_SESSION_RATE": "5/1 minute", **env}, tmp_path / "server.log")
    try:
        live.start()
        yield live
    finally:
        live.stop()
        backends.close()


@pytest.mark.parametrize("server_name", ["uvicorn", "daphne"])
def test_forwarded_for_from_an_untrusted_peer_does_not_escape_the_session_limit(
    tmp_path: Path, server_name: str
) -> None:
    for live in serve(tmp_path, server_name):
        statuses = [session_status(live, f"203.0.113.{i}") for i in range(8)]
        assert statuses == [201] * 5 + [429] * 3


@pytest.mark.parametrize("server_name", ["uvicorn", "daphne"])
def test_forwarded_for_from_a_trusted_proxy_is_the_clients_address(tmp_path: Path, server_name: str) -> None:
    for live in serve(tmp_path, server_name, VOICEBOT_TRUSTED_PROXIES="127.0.0.0/8"):
        # Each forwarded client has its own limit...
        assert [session_status(live, f"203.0.113.{i}") for i in range(8)] == [201] * 8
        # ...and one forwarded client is limited like any other.
        assert [session_status(live, "198.51.100.7") for _ in range(7)] == [201] * 5 + [429] * 2
