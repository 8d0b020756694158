"""Errors that wait in the recorder when a real server is stopped with SIGTERM are stored.

daphne exits normally and ``atexit`` closes the recorder; uvicorn dies of the
re-raised signal, so the lifespan shutdown (ops.lifespan) must do it.
"""
from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

from web.tests.live_server import BASE_DIR, LiveServer, ServerBackends

pytestmark = pytest.mark.e2e


def post(url: str, body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@pytest.mark.parametrize("server_name", ["daphne", "uvicorn"])
def test_errors_waiting_at_sigterm_are_stored(server_name: str, tmp_path: Path) -> None:
    backends = ServerBackends(tmp_path)
    backends.prepare()
    # The writer would wait ten minutes: what it holds at SIGTERM is only stored by the shutdown.
    env = {**backends.open_inside(), "VOICEBOT_SERVER": server_name, "VOICEBOT_ERROR_FLUSH_INTERVAL": "600"}
    live = LiveServer(env, tmp_path / "server.log")
    try:
        live.start()
        session = post(live.url + "/api/sessions", {"name": "Stopper"})
        lobby = post(live.url + "/api/lobbies", {"name": "Shutdown"}, session["token"])

        async def send_bad_frames() -> list[str]:
            url = f"ws://127.0.0.1:{live.port}/ws/lobby/{lobby['id']}/?token={session['token']}"
            async with connect(url, open_timeout=10) as socket:
                for _ in range(3):
                    await socket.send(json.dumps({"type": "no_such_frame"}))
                return [json.loads(await asyncio.wait_for(socket.recv(), 10))["code"] for _ in range(3)]

        assert asyncio.run(send_bad_frames()) == ["unknown_message_type"] * 3
        live.stop()
        report = subprocess.run(
            [sys.executable, "manage.py", "error_report", "--format", "json"],
            cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120, check=True,
        )
        groups = {g["code"]: g for g in json.loads(report.stdout)["groups"]}
        assert groups["unknown_message_type"]["count"] == 3, report.stdout
    finally:
        live.stop()
        backends.close()
