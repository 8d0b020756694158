"""Lobbies that nobody uses go away: empty lobbies close, and the chat of closed ones expires.

An open lobby with no participant (connected or reconnecting) starts a clock
(``Lobby.empty_since``; a new lobby starts empty, a join stops the clock) and
closes ``VOICEBOT_EMPTY_LOBBY_CLOSE_AFTER`` seconds later; the chat messages
of a lobby closed more than ``VOICEBOT_CLOSED_LOBBY_CHAT_RETENTION`` seconds
ago are deleted. The sweep runs in every server process (with presence);
each close is one conditional update that also checks the lobby is still
empty, so a join that lands meanwhile keeps the lobby open and two processes
never close it twice.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from lobbies import events, seats
from lobbies.events import Event
from lobbies.models import ChatMessage, Lobby, Participant

logger = logging.getLogger("voicebot.lobbies")


def _occupied() -> Exists:
    # People keep a lobby open; a bot alone leaves it anyway.
    return Exists(Participant.objects.filter(lobby_id=OuterRef("pk"), is_bot=False))


def lobby_expiry_sweep(*, now: datetime | None = None) -> list[Event]:
    """Start and stop the empty lobbies' clocks, close those whose time ran out, prune old chat."""
    now = now or timezone.now()
    open_lobbies = Lobby.objects.filter(closed_at__isnull=True)
    # A lobby that emptied starts its clock; one that has people again stops it
    # (a join stops it itself; this also mends a clock started by a sweep that
    # raced a join).
    open_lobbies.filter(empty_since__isnull=True).filter(~_occupied()).update(empty_since=now)
    open_lobbies.filter(empty_since__isnull=False).filter(_occupied()).update(empty_since=None)
    emitted: list[Event] = []
    close_after = settings.VOICEBOT_EMPTY_LOBBY_CLOSE_AFTER
    if close_after > 0:
        expired = open_lobbies.filter(empty_since__lte=now - timedelta(seconds=close_after))
        for lobby_id, empty_since in list(expired.values_list("pk", "empty_since")):
            with transaction.atomic():
                closed = (
                    Lobby.objects.filter(pk=lobby_id, closed_at__isnull=True, empty_since=empty_since)
                    .filter(~_occupied())
                    .update(closed_at=now)
                )
                if closed:
                    emitted.append(events.lobby_closed(lobby_id))
                    emitted.extend(seats.seat_waiters_dismiss(lobby_id=lobby_id))
            if closed:
                logger.info("lobby %s closed after %.0f s empty", lobby_id, (now - empty_since).total_seconds())
    chat_prune_closed(now=now)
    return emitted


def chat_prune_closed(*, now: datetime | None = None) -> int:
    """Delete the chat of lobbies closed longer ago than the retention; returns how many messages."""
    now = now or timezone.now()
    retention = timedelta(seconds=max(0.0, settings.VOICEBOT_CLOSED_LOBBY_CHAT_RETENTION))
    deleted, _ = ChatMessage.objects.filter(lobby__closed_at__lte=now - retention).delete()
    return deleted
