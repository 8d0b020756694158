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
    browsers send one, and every socket needs a session token anyway. The
    allowed hosts are read from settings at each handshake.
    """

    def __init__(self, application: Any) -> None:
        super().__init__(application, allowed_origins=[])

    @property  # type: ignore[override]
    def allowed_origins(self) -> list[str]:
        return list(settings.ALLOWED_HOSTS)

    @allowed_origins.setter
    def allowed_origins(self, value: list[str]) -> None:
        """Set by the base class's constructor; the settings are the source."""

    def valid_origin(self, parsed_origin: ParseResult | None) -> bool:
        if parsed_origin is None:
            return True
        return super().valid_origin(parsed_origin)
