"""Reads of sessions and lobbies."""
from __future__ import annotations

from typing import Any

from django.db.models import Count

from lobbies.exceptions import LobbyNotFoundError
from lobbies.models import GuestSession, Lobby, Participant
from lobbies.presenters import lobby_public, participant_public

PUBLIC_LOBBY_LIST_LIMIT = 500


def session_exists(*, session_id: str) -> bool:
    return GuestSession.objects.filter(pk=session_id).exists()


def lobby_get_open(*, lobby_id: str) -> Lobby:
    lobby = Lobby.objects.filter(pk=lobby_id, closed_at__isnull=True).first()
    if lobby is None:
        raise LobbyNotFoundError()
    return lobby


def lobby_list_public() -> list[dict[str, Any]]:
    lobbies = (
        Lobby.objects.filter(private=False, closed_at__isnull=True)
        .annotate(participant_total=Count("participants"))
        .order_by("-created_at")[:PUBLIC_LOBBY_LIST_LIMIT]
    )
    return [lobby_public(lobby, participant_count=lobby.participant_total) for lobby in lobbies]


def lobby_detail(*, lobby_id: str, viewer_session_id: str | None) -> dict[str, Any]:
    """A lobby with its participants; a lobby with a password shows them only to its own."""
    lobby = lobby_get_open(lobby_id=lobby_id)
    participants = list(Participant.objects.filter(lobby=lobby).order_by("joined_at", "id"))
    detail = lobby_public(lobby, participant_count=len(participants))
    hidden = lobby.has_password and not any(p.session_id == viewer_session_id for p in participants)
    detail["participants"] = [] if hidden else [participant_public(p) for p in participants]
    detail["participants_hidden"] = hidden
    return detail
