"""End to end: a real server (``manage.py serve``, daphne and uvicorn) on a loopback port and `websockets` clients."""
from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from web.tests.live_server import LiveServer, ServerBackends

pytestmark = pytest.mark.e2e

OFFER = {"type": "offer", "sdp": "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"}
ANSWER = {"type": "answer", "sdp": "v=0\r\no=- 3 4 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"}
CANDIDATE = {"candidate": "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host", "sdpMid": "0",
             "sdpMLineIndex": 0, "usernameFragment": "abcd"}


# What each server writes to its access log for a WebSocket handshake.
HANDSHAKE_LOGGED = {"daphne": "WSCONNECT /ws/lobby/", "uvicorn": '"WebSocket /ws/lobby/'}


@pytest.fixture(scope="module", params=sorted(HANDSHAKE_LOGGED))
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    workdir = tmp_path_factory.mktemp(f"e2e-{request.param}")
    backends = ServerBackends(workdir)
    backends.prepare()
    live = LiveServer({**backends.open_inside(), "VOICEBOT_SERVER": request.param}, workdir / "server.log")
    live.server_name = request.param  # type: ignore[attr-defined]
    try:
        live.start()
        yield live
    finally:
        live.stop()
        backends.close()


def post(server: LiveServer, path: str, body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(server.url + path, data=json.dumps(body).encode(), headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


class Peer:
    def __init__(self, server: LiveServer, lobby_id: str, name: str) -> None:
        session = post(server, "/api/sessions", {"name": name})
        self.session_id: str = session["session_id"]
        self.token: str = session["token"]
        self.url = f"ws://127.0.0.1:{server.port}/ws/lobby/{lobby_id}/?token={self.token}"
        self.socket: ClientConnection | None = None

    async def open(self) -> None:
        self.socket = await connect(self.url, open_timeout=10)

    async def send(self, frame: dict[str, Any]) -> None:
        assert self.socket is not None
        await self.socket.send(json.dumps(frame))

    async def receive_any(self) -> dict[str, Any]:
        assert self.socket is not None
        return dict(json.loads(await asyncio.wait_for(self.socket.recv(), 10)))

    async def receive(self, frame_type: str) -> dict[str, Any]:
        frame = await self.receive_any()
        assert frame["type"] == frame_type, frame
        return frame


async def test_two_clients_join_negotiate_drop_and_resume(server: LiveServer) -> None:
    owner = post(server, "/api/sessions", {})
    lobby = post(server, "/api/lobbies", {"name": "End to end"}, token=owner["token"])
    ann, bob = Peer(server, lobby["id"], "Ann"), Peer(server, lobby["id"], "Bob")

    await ann.open()
    await ann.send({"type": "join", "id": "a1"})
    assert (await ann.receive("joined"))["self"]["name"] == "Ann"
    await bob.open()
    await bob.send({"type": "join"})
    joined = await bob.receive("joined")
    assert [p["name"] for p in joined["participants"]] == ["Ann"]
    assert await bob.receive("add_peer") == {"type": "add_peer", "peer_id": ann.session_id,
                                             "should_create_offer": True, "polite": False}
    assert (await ann.receive("participant_joined"))["participant"]["session_id"] == bob.session_id
    assert (await ann.receive("add_peer"))["polite"] is True

    # Offer, answer and candidates, each way.
    await bob.send({"type": "relay_session_description", "peer_id": ann.session_id, "description": OFFER})
    assert (await ann.receive("session_description"))["description"] == OFFER
    await ann.send({"type": "relay_session_description", "peer_id": bob.session_id, "description": ANSWER})
    assert (await bob.receive("session_description"))["description"] == ANSWER
    await bob.send({"type": "relay_ice_candidate", "peer_id": ann.session_id, "candidate": CANDIDATE})
    assert (await ann.receive("ice_candidate"))["candidate"] == CANDIDATE
    await ann.send({"type": "relay_ice_candidate", "peer_id": bob.session_id, "candidate": CANDIDATE})
    assert (await bob.receive("ice_candidate"))["peer_id"] == ann.session_id

    # Bob's connection drops without a leave: Ann sees him reconnecting.
    assert bob.socket is not None
    bob.socket.transport.abort()
    updated = await ann.receive("participant_updated")
    assert updated["participant"]["status"] == "reconnecting"

    # Bob comes back with the same token and resumes his place.
    await bob.open()
    await bob.send({"type": "join", "id": "again"})
    resumed = await bob.receive("joined")
    assert resumed["resumed"] is True and resumed["self"]["name"] == "Bob"
    assert (await bob.receive("add_peer"))["should_create_offer"] is True
    assert (await ann.receive("participant_updated"))["participant"]["status"] == "connected"
    assert (await ann.receive("remove_peer"))["peer_id"] == bob.session_id
    assert (await ann.receive("add_peer"))["peer_id"] == bob.session_id
    await bob.send({"type": "relay_session_description", "peer_id": ann.session_id, "description": OFFER})
    assert (await ann.receive("session_description"))["peer_id"] == bob.session_id

    for peer in (ann, bob):
        assert peer.socket is not None
        await peer.socket.close()

    # The tokens went through the access log and the error log, scrubbed.
    log = Path(server.log_path).read_text(errors="replace")
    assert HANDSHAKE_LOGGED[server.server_name] in log  # type: ignore[attr-defined]
    if server.server_name == "uvicorn":  # type: ignore[attr-defined]
        # uvicorn logs the query string: the filter must have scrubbed it.
        assert "?token=[scrubbed]" in log
    for token in (ann.token, bob.token, owner["token"]):
        assert token not in log and token.split(":")[-1] not in log


async def test_foreign_origin_is_refused_with_403(server: LiveServer) -> None:
    owner = post(server, "/api/sessions", {})
    lobby = post(server, "/api/lobbies", {"name": "Origins"}, token=owner["token"])
    url = f"ws://127.0.0.1:{server.port}/ws/lobby/{lobby['id']}/?token={owner['token']}"
    with pytest.raises(InvalidStatus) as refused:
        await connect(url, origin="http://evil.example", open_timeout=10)
    assert refused.value.response.status_code == 403
    # The same host on another port (or scheme) is another origin.
    for other in (f"http://127.0.0.1:{server.port + 1}", f"https://127.0.0.1:{server.port}"):
        with pytest.raises(InvalidStatus) as refused:
            await connect(url, origin=other, open_timeout=10)
        assert refused.value.response.status_code == 403
    async with connect(url, origin=f"http://127.0.0.1:{server.port}", open_timeout=10) as socket:
        await socket.send(json.dumps({"type": "ping", "id": "p"}))
        assert json.loads(await asyncio.wait_for(socket.recv(), 10)) == {"type": "pong", "in_reply_to": "p"}


async def test_invalid_utf8_text_frame_closes_1007_and_logs_no_traceback(server: LiveServer) -> None:
    owner = post(server, "/api/sessions", {})
    lobby = post(server, "/api/lobbies", {"name": "Encodings"}, token=owner["token"])
    url = f"ws://127.0.0.1:{server.port}/ws/lobby/{lobby['id']}/?token={owner['token']}"
    logged_before = len(server.log_tail(limit=10**9))
    for _ in range(3):
        async with connect(url, open_timeout=10) as socket:
            await socket.send(b"\xff\xfe not utf-8", text=True)
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(socket.recv(), 10)
            if server.server_name == "uvicorn":  # type: ignore[attr-defined]
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 1007
            # daphne (autobahn) drops the connection without a close frame.
    await asyncio.sleep(0.5)
    logged = server.log_tail(limit=10**9)[logged_before:]
    assert "Traceback" not in logged and " ERROR " not in logged, logged


async def test_oversized_frames_on_a_real_server(server: LiveServer) -> None:
    owner = post(server, "/api/sessions", {})
    lobby = post(server, "/api/lobbies", {"name": "Sizes"}, token=owner["token"])
    url = f"ws://127.0.0.1:{server.port}/ws/lobby/{lobby['id']}/?token={owner['token']}"
    async with connect(url, open_timeout=10, max_size=None) as socket:
        # Over 64 KiB: refused with an error, the socket stays open.
        await socket.send(json.dumps({"type": "chat", "text": "x" * 70_000}))
        error = json.loads(await asyncio.wait_for(socket.recv(), 10))
        assert error["code"] == "message_too_large"
        await socket.send(json.dumps({"type": "ping"}))
        assert json.loads(await asyncio.wait_for(socket.recv(), 10))["type"] == "pong"
        # Over the server's 1 MiB ceiling the transport drops the connection
        # before the frame is read into memory (the close may reach the
        # client while it is still sending)...
        with pytest.raises(ConnectionClosed):
            await socket.send("x" * (1024 * 1024 + 1))
            await asyncio.wait_for(socket.recv(), 10)
    # ...and the server goes on serving.
    async with connect(url, open_timeout=10) as socket:
        await socket.send(json.dumps({"type": "ping"}))
        assert json.loads(await asyncio.wait_for(socket.recv(), 10))["type"] == "pong"


@pytest.mark.parametrize("logger_name", ["uvicorn.access", "uvicorn.error"])
def test_uvicorn_loggers_scrub_tokens_before_any_handler(logger_name: str) -> None:
    import logging

    seen: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    logger = logging.getLogger(logger_name)
    capture = Capture()
    logger.addHandler(capture)
    try:
        logger.warning('%s - "WebSocket %s" [accepted]', "127.0.0.1:5000", "/ws/lobby/x/?token=abc.def:ghi")
    finally:
        logger.removeHandler(capture)
    assert seen == ['127.0.0.1:5000 - "WebSocket /ws/lobby/x/?token=[scrubbed]" [accepted]']


def test_serve_refuses_several_workers_without_redis_or_with_daphne(settings: Any) -> None:
    from django.core.management import CommandError, call_command

    settings.REDIS_URL = ""
    with pytest.raises(CommandError, match="REDIS_URL"):
        call_command("serve", "--server", "uvicorn", "--workers", "2")
    with pytest.raises(CommandError, match="--server uvicorn"):
        call_command("serve", "--server", "daphne", "--workers", "2")
