"""Reads of sessions and lobbies."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Q

from lobbies.exceptions import LobbyNotFoundError
from lobbies.models import GuestSession, Lobby, Participant
from lobbies.presenters import lobby_public, participant_public
from lobbies.validation import lobby_search_clean

LOBBY_PAGE_DEFAULT_SIZE = 20
LOBBY_PAGE_MAX_SIZE = 100


@dataclass(frozen=True)
class LobbyPage:
    """One page of the public lobbies that match a search."""

    lobbies: list[dict[str, Any]]
    query: str
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    def as_json(self) -> dict[str, Any]:
        return {"lobbies": self.lobbies, "q": self.query, "page": self.page, "per_page": self.per_page,
                "pages": self.pages, "total": self.total}


def session_exists(*, session_id: str) -> bool:
    return GuestSession.objects.filter(pk=session_id).exists()


def lobby_get_open(*, lobby_id: str) -> Lobby:
    lobby = Lobby.objects.filter(pk=lobby_id, closed_at__isnull=True).first()
    if lobby is None:
        raise LobbyNotFoundError()
    return lobby


def lobby_list_public(*, query: str = "", page: int = 1, per_page: int = LOBBY_PAGE_DEFAULT_SIZE) -> LobbyPage:
    """Open public lobbies, newest first, whose name or description contains ``query``
    (ignoring case), or whose id it is.

    A page past the last one is empty.
    """
    clean_query = lobby_search_clean(query)
    matching = Lobby.objects.filter(private=False, closed_at__isnull=True)
    if clean_query:
        matching = matching.filter(
            Q(name__icontains=clean_query) | Q(description__icontains=clean_query) | Q(id=clean_query)
        )
    total = matching.count()
    start = (page - 1) * per_page
    lobbies = (
        matching.annotate(participant_total=Count("participants", filter=Q(participants__is_bot=False))).order_by("-created_at", "id")[start:start + per_page]
        if start < total else []
    )
    return LobbyPage(
        lobbies=[lobby_public(lobby, participant_count=lobby.participant_total) for lobby in lobbies],
        query=clean_query, page=page, per_page=per_page, total=total,
    )


def lobby_detail(*, lobby_id: str, viewer_session_id: str | None) -> dict[str, Any]:
    """A lobby with its participants; a lobby with a password shows them only to its own."""
    lobby = lobby_get_open(lobby_id=lobby_id)
    participants = list(Participant.objects.filter(lobby=lobby).order_by("joined_at", "id"))
    detail = lobby_public(lobby, participant_count=sum(not p.is_bot for p in participants))
    hidden = lobby.has_password and not any(p.session_id == viewer_session_id for p in participants)
    detail["participants"] = [] if hidden else [participant_public(p) for p in participants]
    detail["participants_hidden"] = hidden
    return detail
