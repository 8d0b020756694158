"""The error a guarded call raises when its dependency is unavailable."""
from __future__ import annotations

from typing import Any

from errors.choices import Recovery
from errors.exceptions import NetworkError


class DependencyUnavailableError(NetworkError):
    """A dependency's breaker is open, or its call failed (the cause is chained).

    The default error of a ``Dependency``; the database and the channel layer
    raise their own (``DatabaseUnavailableError``, ``ChannelLayerUnavailableError``).
    """

    code = "service_unavailable"
    message = "A service the server depends on is unavailable right now. Try again in a moment."
    recovery = Recovery.RETRY
    retry_after = 2.0

    def __init__(
        self, message: str | None = None, *, name: str, retry_after: float | None = None,
        context: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, retry_after=retry_after, context={"dependency": name, **(context or {})})
        self.name = name
