"""Session-token authentication for HTTP calls and for the WebSocket stack."""
from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

from django.http import HttpRequest

from errors.exceptions import UnauthenticatedError
from lobbies.tokens import session_token_verify


def request_session_id(request: HttpRequest, *, required: bool) -> str | None:
    """The session behind ``Authorization: Bearer <token>``.

    With ``required`` a missing token is UnauthenticatedError; a token that is
    present but forged or expired always is.
    """
    header = request.headers.get("Authorization", "")
    if not header:
        if required:
            raise UnauthenticatedError("This call needs 'Authorization: Bearer <token>' from POST /api/sessions.",
                                       context={"token": "missing"})
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise UnauthenticatedError("Send the token as 'Authorization: Bearer <token>'.",
                                   context={"token": "malformed"})
    session_id = session_token_verify(token.strip())
    request.voicebot_session_id = session_id  # type: ignore[attr-defined]
    return session_id


class SessionTokenAuthMiddleware:
    """Channels middleware: reads ``?token=`` and puts the session in the scope.

    ``scope["voicebot_session_id"]`` is the verified session id, or None with
    ``scope["voicebot_auth_error"]`` saying why; the consumer refuses such a
    socket with 4001 after accepting it, so that the client can read the
    reason. The token is removed from the scope's query string so that nothing
    downstream can log it. Keeps no per-connection state on itself.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        # Built in a function of its own: this frame stays alive as long as the
        # socket, and would keep the parsed query and the token with it.
        return await self.app(_authenticated_scope(scope), receive, send)


def _authenticated_scope(scope: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``scope`` with the session the token names (or the error), and no token."""
    params = parse_qsl(scope.get("query_string", b"").decode("latin1"), keep_blank_values=True)
    token = next((value for key, value in params if key == "token"), None)
    scope = dict(scope)
    scope["query_string"] = urlencode([(k, v) for k, v in params if k != "token"]).encode("latin1")
    try:
        scope["voicebot_session_id"] = session_token_verify(token)
        scope["voicebot_auth_error"] = None
    except UnauthenticatedError as exc:
        scope["voicebot_session_id"] = None
        scope["voicebot_auth_error"] = exc
    return scope
