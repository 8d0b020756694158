"""Who did something, as the services that do it are told."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest


@dataclass(frozen=True, slots=True)
class Actor:
    """A staff account (``user``) or a guest session (``session_id``), and where it acted from."""

    user: Any = None
    session_id: str = ""
    address: str = ""

    @property
    def label(self) -> str:
        if self.user is not None:
            return f"staff {self.user.get_username()}"
        if self.session_id:
            return f"session {self.session_id[:8]}"
        return "system"


def actor_from_request(request: HttpRequest) -> Actor:
    """The staff member behind an admin request."""
    user = getattr(request, "user", None)
    return Actor(user=user if user is not None and user.is_authenticated else None,
                 address=request.META.get("REMOTE_ADDR") or "")
