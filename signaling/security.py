"""Origin checking for the WebSocket handshake."""
from __future__ import annotations

from typing import Any
from urllib.parse import ParseResult

from channels.security.websocket import OriginValidator
from django.conf import settings


class BrowserOriginValidator(OriginValidator):
    """Refuses a browser whose ``Origin`` is not in ALLOWED_HOSTS (HTTP 403).

    Unlike Channels' AllowedHostsOriginValidator, a client that sends no
    ``Origin`` at all (a bot, a command-line client) is let through: only
    browsers send one, and every socket needs a session token anyway.
    """

    def valid_origin(self, parsed_origin: ParseResult | None) -> bool:
        if parsed_origin is None:
            return True
        return super().valid_origin(parsed_origin)


def browser_origin_validator(application: Any) -> BrowserOriginValidator:
    allowed_hosts = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not allowed_hosts:
        allowed_hosts = ["localhost", "127.0.0.1", "[::1]"]
    return BrowserOriginValidator(application, allowed_hosts)
