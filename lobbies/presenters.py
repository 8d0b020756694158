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
    public: dict[str, Any] = {
        "session_id": participant.session_id,
        "name": participant.name,
        "is_bot": participant.is_bot,
        "muted": participant.muted,
        "status": participant.status,
    }
    if participant.is_bot:
        public["bot"] = {
            "kind": participant.bot_kind,
            "profile": participant.bot_profile or None,
            "state": participant.bot_state or Participant.BotState.STARTING.value,
        }
    return public


def chat_public(message: ChatMessage) -> dict[str, Any]:
    public: dict[str, Any] = {
        # The same message broadcast again (a retried frame) has the same id.
        "id": str(message.pk),
        "session_id": message.session_id,
        "name": message.name,
        "text": message.text,
        "ts": message.created_at.isoformat(),
    }
    if message.is_bot:
        public["is_bot"] = True
    if message.transcript_speaker_id:
        public["transcript"] = {"speaker_session_id": message.transcript_speaker_id}
    return public
