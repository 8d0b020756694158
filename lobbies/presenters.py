"""The protocol's JSON shapes of lobbies, participants and chat messages."""
from __future__ import annotations

from typing import Any

from lobbies.models import ChatMessage, Lobby, Participant


def lobby_public(lobby: Lobby, *, participant_count: int) -> dict[str, Any]:
    return {
        "id": lobby.id,
        "name": lobby.name,
        "description": lobby.description,
        "private": lobby.private,
        "has_password": lobby.has_password,
        "max_participants": lobby.max_participants,
        "participant_count": participant_count,
        "created_at": lobby.created_at.isoformat(),
        "locked": lobby.locked,
    }


def participant_public(participant: Participant) -> dict[str, Any]:
    return {
        "session_id": participant.session_id,
        "name": participant.name,
        "is_bot": participant.is_bot,
        "muted": participant.muted,
        "status": participant.status,
    }


def chat_public(message: ChatMessage) -> dict[str, Any]:
    return {
        # The same message broadcast again (a retried frame) has the same id.
        "id": str(message.pk),
        "session_id": message.session_id,
        "name": message.name,
        "text": message.text,
        "ts": message.created_at.isoformat(),
    }
