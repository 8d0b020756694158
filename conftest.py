"""Fixtures shared by every app's tests."""
from __future__ import annotations

import asyncio
import fnmatch
import json
import os
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings
from django.db import connections

from bench.servers import RedisServer

# The bots' end-to-end files play and hear speech in real time over WebRTC; run beside other
# tests on a 2-core machine they lose audio to them (a speaker's words misheard, an utterance cut
# in two). ``make test`` runs everything else on two pytest-xdist workers first, then these files
# on their own (``-m realtime_speech``, which this marker makes possible).
REALTIME_SPEECH_FILES = "bots/tests/test_*_e2e.py"


@pytest.hookimpl(tryfirst=True)  # before -m selects by it
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if fnmatch.fnmatch(item.nodeid.split("::", 1)[0], REALTIME_SPEECH_FILES):
            item.add_marker(pytest.mark.realtime_speech)


@pytest.fixture(autouse=True)
async def fresh_channel_layer() -> AsyncIterator[None]:
    """Each test gets its own channel layer object.

    The test runner gives every test a new event loop; channels-redis binds
    its receive lock and connection pools to the loop that first used them.
    """
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    yield
    for layer in list(channel_layers.backends.values()):
        close_pools = getattr(layer, "close_pools", None)
        if close_pools is not None:
            await close_pools()
    channel_layers.backends.clear()


@pytest.fixture(autouse=True)
def manual_error_writer(settings: Any) -> Iterator[None]:
    """Errors are stored when a test asks for them (errors.testing), and no test sees another's."""
    from audit.recorder import audit_recorder
    from errors.testing import recorder_reset

    settings.VOICEBOT_ERROR_WRITER = "manual"
    recorder_reset()
    audit_recorder().discard()
    yield
    recorder_reset()
    audit_recorder().discard()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """REDIS_URL, or a redis-server of this test run's own (skips when there is neither)."""
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    if not RedisServer.available():
        pytest.skip("needs REDIS_URL or a redis-server binary")
    redis_server = RedisServer(tmp_path_factory.mktemp("redis"))
    redis_server.start()
    try:
        yield redis_server.url
    finally:
        redis_server.stop()


@pytest.fixture(autouse=True)
def per_client_limits_reset() -> Iterator[None]:
    """No test sees the wrong-password counts of another."""
    from lobbies.passwords import password_limits_reset

    password_limits_reset()
    yield
    password_limits_reset()


@pytest.fixture
def dead_port() -> int:
    """A loopback port where nothing listens."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def unreachable_database(dead_port: int) -> Iterator[None]:
    """New connections to the default database fail; connections already open are untouched.

    Postgres is pointed at a loopback port where nothing listens; SQLite at a
    file in a directory that does not exist. The shared server keeps running.
    """
    db_settings = connections.settings["default"]
    saved = dict(db_settings)
    if db_settings["ENGINE"] == "django.db.backends.sqlite3":
        db_settings["NAME"] = str(django_settings.BASE_DIR / "no-such-directory" / "voicebot.sqlite3")
    else:
        db_settings.update(HOST="127.0.0.1", PORT=str(dead_port))
    try:
        yield
    finally:
        db_settings.clear()
        db_settings.update(saved)


@pytest.fixture
def new_session(db: None) -> Callable[..., tuple[str, str]]:
    """Creates a guest session; returns (session_id, token)."""
    from lobbies.services import session_create

    def make(name: str | None = None) -> tuple[str, str]:
        session, token = session_create(name=name)
        return session.id, token

    return make


@pytest.fixture
def new_lobby(db: None, new_session: Callable[..., tuple[str, str]]) -> Callable[..., str]:
    """Creates a lobby; returns its id."""
    from lobbies.services import lobby_create

    def make(**fields: Any) -> str:
        owner, _ = new_session()
        fields.setdefault("name", "Test lobby")
        return lobby_create(session_id=owner, **fields).id

    return make


class Client:
    """A WebSocket test client speaking JSON through the real ASGI stack."""

    def __init__(self, communicator: WebsocketCommunicator, session_id: str, token: str | None) -> None:
        self.communicator = communicator
        self.session_id = session_id
        self.token = token
        # closed: the server closed the socket; disconnected: the client side
        # finished too (as a browser does after a close frame), which is what
        # makes the server run its disconnect handling.
        self.closed = False
        self.disconnected = False

    async def send(self, frame: dict[str, Any]) -> None:
        await self.communicator.send_to(text_data=json.dumps(frame))

    async def send_raw(self, *, text: str | None = None, data: bytes | None = None) -> None:
        await self.communicator.send_to(text_data=text, bytes_data=data)

    async def receive(self, timeout: float = 10) -> dict[str, Any]:
        message = await self.communicator.receive_output(timeout)
        if message["type"] == "websocket.close":
            self.closed = True
            return {"type": "__closed__", "code": message.get("code")}
        assert message["type"] == "websocket.send", message
        return json.loads(message["text"])

    async def receive_type(self, frame_type: str, timeout: float = 10) -> dict[str, Any]:
        """The next frame, which must be of ``frame_type``."""
        frame = await self.receive(timeout)
        assert frame["type"] == frame_type, frame
        return frame

    async def expect_closed(self, code: int, timeout: float = 10) -> None:
        frame = await self.receive(timeout)
        assert frame == {"type": "__closed__", "code": code}, frame

    async def nothing_more(self, timeout: float = 0.2) -> None:
        assert await self.communicator.receive_nothing(timeout), "unexpected frame waiting"

    async def join(self, name: str, **fields: Any) -> dict[str, Any]:
        await self.send({"type": "join", "name": name, **fields})
        return await self.receive_type("joined")

    async def close(self) -> None:
        if not self.disconnected:
            self.disconnected = True
            await self.communicator.disconnect(timeout=10)


@pytest.fixture
async def ws(transactional_db: None) -> AsyncIterator[Callable[..., Any]]:
    """Opens sockets to /ws/lobby/<id>/ through the real middleware stack.

    Every socket opened is disconnected at teardown.
    """
    from voicebot_site.asgi import application

    opened: list[Client] = []

    async def connect(
        lobby_id: str,
        token: str | None,
        *,
        session_id: str = "",
        origin: str | None = None,
        path: str | None = None,
        expect_accept: bool = True,
        host: str | None = None,
        scheme: str | None = None,
    ) -> Client:
        url = path or f"/ws/lobby/{lobby_id}/" + (f"?token={token}" if token is not None else "")
        headers = [(b"origin", origin.encode())] if origin else []
        if host is not None:
            headers.append((b"host", host.encode()))
        communicator = WebsocketCommunicator(application, url, headers=headers)
        # The application has not started yet: it reads the scope it was given.
        communicator.scope["client"] = ("127.0.0.1", 50000)
        if scheme is not None:
            communicator.scope["scheme"] = scheme
        connected, _ = await communicator.connect(timeout=5)
        assert connected is expect_accept, f"handshake accepted={connected}"
        client = Client(communicator, session_id, token)
        opened.append(client)
        return client

    yield connect
    for client in opened:
        try:
            await client.close()
        except (Exception, asyncio.CancelledError):  # noqa: BLE001 - the app may have finished already
            pass


@pytest.fixture
async def joined_pair(
    ws: Callable[..., Any], new_session: Callable[..., tuple[str, str]], new_lobby: Callable[..., str]
) -> tuple[str, Client, Client]:
    """Lobby with A then B joined; the add_peer frames are consumed."""
    lobby_id = await database_sync_to_async(new_lobby)()
    a_id, a_token = await database_sync_to_async(new_session)()
    b_id, b_token = await database_sync_to_async(new_session)()
    a = await ws(lobby_id, a_token, session_id=a_id)
    await a.join("Ann")
    b = await ws(lobby_id, b_token, session_id=b_id)
    await b.join("Bob")
    await b.receive_type("add_peer")
    assert (await a.receive_type("participant_joined"))["participant"]["session_id"] == b_id
    await a.receive_type("add_peer")
    return lobby_id, a, b
