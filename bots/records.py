"""What the assistants keep in the database: each bot's conversation in its lobby, and every measured turn.

A conversation is stored whole (``Conversation.to_dict``, already bounded by
its token budget and item count) under the lobby and the bot's session, so a
bot resumed by another worker reads back what it heard and said. Turns are
rows of ``TurnMetrics``. Both outlive the bot, for staff, until
``conversations_prune`` deletes what is older than the retention.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from bots.models import Conversation, Turn
from lobbies.models import Lobby

TURN_FIELDS = ("transcription", "end_of_turn", "llm_first_token", "tts_first_audio", "voice_to_voice", "overhead",
               "fallback", "interrupted", "cut")


def conversation_load(*, lobby_id: str, bot_session_id: str) -> dict[str, Any] | None:
    """The stored conversation of this bot in this lobby (its ``to_dict``), or None."""
    return (Conversation.objects.filter(lobby_id=lobby_id, bot_session_id=bot_session_id)
            .values_list("data", flat=True).first())


def conversation_save(*, lobby_id: str, bot_session_id: str, bot_name: str, profile_id: str | None,
                      data: dict[str, Any]) -> None:
    """Store the conversation as it is now (replacing what was stored)."""
    if not Lobby.objects.filter(pk=lobby_id).exists():
        return  # the lobby is gone: nothing to keep it under
    items = len(data.get("items", []))
    with transaction.atomic():
        updated = Conversation.objects.filter(lobby_id=lobby_id, bot_session_id=bot_session_id).update(
            data=data, items=items, bot_name=bot_name[:32], updated_at=timezone.now())
        if not updated:
            Conversation.objects.create(lobby_id=lobby_id, bot_session_id=bot_session_id, bot_name=bot_name[:32],
                                        profile_id=profile_id, data=data, items=items)


def turn_store(*, metrics: dict[str, Any], outcome: str) -> None:
    """One measured turn (``TurnMetrics.as_dict()``)."""
    Turn.objects.create(
        turn_id=metrics["turn_id"],
        lobby_id=metrics["lobby_id"],
        bot_session_id=metrics["bot_session_id"],
        profile_id=metrics.get("profile") or "",
        speaker_session_id=metrics.get("speaker_session_id") or "",
        speech_ended_at=datetime.fromisoformat(metrics["speech_ended_at"]),
        stt_provider=metrics.get("stt_provider") or "",
        llm_provider=metrics.get("llm_provider") or "",
        llm_providers=list(metrics.get("llm_providers") or []),
        tts_provider=metrics.get("tts_provider") or "",
        error=metrics.get("error") or "",
        outcome=outcome,
        **{name: metrics.get(name) for name in TURN_FIELDS},
    )


def conversations_prune(*, older_than: timedelta, dry_run: bool = False, now: datetime | None = None) -> int:
    """Delete (or count) conversations unchanged, and turns taken, longer ago than ``older_than``."""
    cutoff = (now or timezone.now()) - older_than
    conversations = Conversation.objects.filter(updated_at__lt=cutoff)
    turns = Turn.objects.filter(speech_ended_at__lt=cutoff)
    if dry_run:
        return conversations.count() + turns.count()
    with transaction.atomic():
        deleted = conversations.delete()[0] + turns.delete()[0]
    return deleted
