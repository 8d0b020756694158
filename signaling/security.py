"""Origin checking for the WebSocket handshake."""
from __future__ import annotations

from typing import Any
from urllib.parse import ParseResult, urlparse

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host

from audit.choices import AuditKind
from audit.services import audit_record

# The web scheme a page of each socket scheme is served over, and its default port.
PAGE_SCHEMES = {"ws": "http", "wss": "https"}
DEFAULT_PORTS = {"http": "80", "https": "443"}


def scope_header(scope: dict[str, Any], name: bytes) -> str | None:
    for header, value in scope.get("headers", []):
        if header == name:
            return value.decode("latin1")
    return None


def origin_parse(raw: str) -> tuple[str, str, str] | None:
    """(scheme, host, port) of an Origin, the port made explicit; None when it is not one."""
    try:
        parsed: ParseResult = urlparse(raw)
        port = parsed.port
    except ValueError:
        return None
    if parsed.scheme not in DEFAULT_PORTS or not parsed.hostname:
        return None
    return parsed.scheme, parsed.hostname.lower(), str(port) if port is not None else DEFAULT_PORTS[parsed.scheme]


def origin_allowed(scope: dict[str, Any], origin: str) -> bool:
    """Whether a browser page of ``origin`` may open this socket.

    The page must be of this very server: the Origin's scheme, host and port
    are those the socket was opened on (its ``Host`` header and scheme; behind
    a TLS proxy, the scheme comes from a trusted proxy's X-Forwarded-Proto),
    and its host is one of ALLOWED_HOSTS. ``VOICEBOT_ALLOWED_ORIGINS`` lists
    further origins, exactly.
    """
    if origin in settings.VOICEBOT_ALLOWED_ORIGINS:
        return True
    parsed = origin_parse(origin)
    if parsed is None:
        return False
    scheme, host, port = parsed
    if not validate_host(host, settings.ALLOWED_HOSTS):
        return False
    page_scheme = PAGE_SCHEMES.get(scope.get("scheme", "ws"), "http")
    host_header = scope_header(scope, b"host")
    if host_header is None:
        return False
    served_host, served_port = split_domain_port(host_header)
    return (scheme, host, port) == (page_scheme, served_host, served_port or DEFAULT_PORTS[page_scheme])


class BrowserOriginValidator:
    """Refuses a browser whose ``Origin`` is not this server's own page (HTTP 403).

    Unlike Channels' AllowedHostsOriginValidator, a client that sends no
    ``Origin`` at all (a bot, a command-line client) is let through: only
    browsers send one, and every socket needs a session token anyway. Unlike
    it too, the scheme and port count: a page on another port of the same
    host is another origin. The settings are read at each handshake.
    """

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        origin = scope_header(scope, b"origin")
        if origin is None or origin_allowed(scope, origin):
            return await self.application(scope, receive, send)
        client = scope.get("client")
        audit_record(kind=AuditKind.ORIGIN_REFUSED, address=client[0] if client else "",
                     target=scope.get("path", ""), details={"origin": origin, "host": scope_header(scope, b"host")})
        return await WebsocketDenier()(scope, receive, send)
