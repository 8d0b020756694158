"""The server a worker's bots join: its lobby socket's address, the guard every bot's connect
goes through, and what its close codes mean to a bot."""
from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from websockets.exceptions import InvalidHandshake

from resilience.guard import Dependency, failures_of
from resilience.registry import dependency

# How a bot's run ends: it left for good, or another worker's socket took its session over.
FINISHED = "finished"
LOST = "lost"
# Close codes after which the bot is gone for good: its session was removed,
# staff kicked it, its lobby closed.
GONE_CODES = {4001, 4003, 4004}
REPLACED_CODE = 4009
# Seconds a bot waits for the server to accept its socket.
OPEN_TIMEOUT = 10.0
# The server's WebSocket, as every bot of this worker reaches it: one breaker for all,
# so that a server that is down is not knocked on by each bot in turn.
BOT_SERVER = "bot_server"


def bot_server() -> Dependency:
    return dependency(BOT_SERVER, classify=failures_of(OSError, InvalidHandshake, TimeoutError))


def lobby_socket_url(server_url: str, lobby_id: str, token: str) -> str:
    parts = urlsplit(server_url)
    scheme = {"https": "wss", "wss": "wss"}.get(parts.scheme, "ws")
    return urlunsplit((scheme, parts.netloc, f"/ws/lobby/{lobby_id}/", f"token={token}", ""))
