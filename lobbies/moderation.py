"""Moderation: kicking participants, locking and closing lobbies, by staff or by the lobby's creator.

Staff act from the admin; a lobby's creator (the session that created it)
acts from the lobby page over its socket, on its own lobby only
(``forbidden`` otherwise). A kicked participant's socket closes with 4003,
and its session and address may not join that lobby again for
``VOICEBOT_KICK_BAN`` seconds (``kicked`` with a ``retry_after``). Every act
is recorded in the security audit log with who did it, once it committed.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from audit.actors import Actor
from audit.choices import AuditKind
from audit.services import audit_record
from errors.exceptions import ForbiddenError, InvalidMessageError
from lobbies import events, seats
from lobbies.events import Event
from lobbies.exceptions import LobbyNotFoundError
from lobbies.models import Lobby, LobbyBan, Participant
from lobbies.presenters import lobby_public, participant_public
from lobbies.services import participant_remove
from signaling.exceptions import PeerNotFoundError

SYSTEM = Actor()


def _audit_on_commit(actor: Actor, *, kind: AuditKind, lobby_id: str, target: str, **details: Any) -> None:
    transaction.on_commit(lambda: audit_record(
        kind=kind, actor=actor.label, user=actor.user, session_id=actor.session_id, address=actor.address,
        lobby_id=lobby_id, target=target, details=details,
    ))


def participant_mute_by_bot(*, bot_session_id: str, lobby_id: str, peer_id: str) -> list[Event]:
    """A bot of the lobby mutes another participant of it (its ``set_muted`` with ``peer_id``; never unmutes).

    An assistant does it for the person it heard ask to be muted; that person
    unmutes themselves as always.
    """
    with transaction.atomic():
        if not Participant.objects.filter(session_id=bot_session_id, lobby_id=lobby_id, is_bot=True).exists():
            raise ForbiddenError("Only a bot of this lobby mutes another participant.")
        participant = (Participant.objects.select_for_update()
                       .filter(session_id=peer_id, lobby_id=lobby_id).exclude(session_id=bot_session_id).first())
        if participant is None:
            raise PeerNotFoundError()
        if participant.muted:
            return []
        participant.muted = True
        participant.save(update_fields=["muted"])
    return [events.participant_updated(lobby_id, participant_public(participant), epoch=participant.epoch)]


def lobby_moderated(*, lobby_id: str, session_id: str) -> Lobby:
    """The open lobby, locked for the transaction, when ``session_id`` created it; else ForbiddenError."""
    lobby = Lobby.objects.select_for_update().filter(pk=lobby_id, closed_at__isnull=True).first()
    if lobby is None:
        raise LobbyNotFoundError()
    if lobby.created_by_id != session_id:
        raise ForbiddenError("Only the person who created this lobby can do that.")
    return lobby


def _kick(participant: Participant, *, by: Actor) -> list[Event]:
    emitted = participant_remove(participant, reason="kicked")
    if participant.channel_name:
        emitted.insert(0, events.participant_kicked(participant.lobby_id, participant.channel_name))
    if settings.VOICEBOT_KICK_BAN > 0:
        LobbyBan.objects.create(
            lobby_id=participant.lobby_id, session_id=participant.session_id, address=participant.address,
            until=timezone.now() + timedelta(seconds=settings.VOICEBOT_KICK_BAN), by=by.label,
        )
    _audit_on_commit(by, kind=AuditKind.PARTICIPANT_KICKED, lobby_id=participant.lobby_id,
                     target=f"participant {participant.name} ({participant.session_id[:8]})",
                     kicked_session_id=participant.session_id, kicked_address=participant.address,
                     barred_seconds=settings.VOICEBOT_KICK_BAN)
    return emitted


def participant_kick(*, participant_id: int, by: Actor = SYSTEM) -> list[Event]:
    """Staff removed a participant: its socket closes with 4003, and it is barred for a while."""
    with transaction.atomic():
        participant = Participant.objects.select_for_update().filter(pk=participant_id).first()
        if participant is None:
            return []
        return _kick(participant, by=by)


def lobby_member_kick(*, lobby_id: str, session_id: str, peer_id: Any, by: Actor) -> list[Event]:
    """The lobby's creator (``session_id``) removes the participant ``peer_id``."""
    if not isinstance(peer_id, str):
        raise InvalidMessageError("'peer_id' must be a string.")
    if peer_id == session_id:
        raise InvalidMessageError("You cannot remove yourself: leave the lobby instead.")
    with transaction.atomic():
        lobby_moderated(lobby_id=lobby_id, session_id=session_id)
        participant = Participant.objects.select_for_update().filter(lobby_id=lobby_id, session_id=peer_id).first()
        if participant is None:
            raise PeerNotFoundError()
        return _kick(participant, by=by)


def lobby_set_locked(*, lobby_id: str, session_id: str, locked: Any, by: Actor) -> list[Event]:
    """The lobby's creator locks (no one new may join; resumes still may) or unlocks it."""
    if not isinstance(locked, bool):
        raise InvalidMessageError("'locked' must be true or false.")
    with transaction.atomic():
        lobby = lobby_moderated(lobby_id=lobby_id, session_id=session_id)
        if lobby.locked == locked:
            return []
        lobby.locked = locked
        lobby.save(update_fields=["locked"])
        count = Lobby.objects.filter(pk=lobby_id).aggregate(n=Count("participants"))["n"]
        _audit_on_commit(by, kind=AuditKind.LOBBY_LOCKED, lobby_id=lobby_id, target=f"lobby {lobby}", locked=locked)
    return [events.lobby_updated(lobby_id, lobby_public(lobby, participant_count=count))]


def lobby_close(*, lobby_id: str, by: Actor = SYSTEM, session_id: str | None = None) -> list[Event]:
    """Close a lobby: everyone in it is disconnected with 4004 and it is unlisted.

    With ``session_id`` only the lobby's creator may (staff pass none).
    """
    with transaction.atomic():
        if session_id is not None:
            lobby_moderated(lobby_id=lobby_id, session_id=session_id)
        updated = Lobby.objects.filter(pk=lobby_id, closed_at__isnull=True).update(closed_at=timezone.now())
        if not updated:
            return []
        Participant.objects.filter(lobby_id=lobby_id).delete()
        dismissed = seats.seat_waiters_dismiss(lobby_id=lobby_id)
        _audit_on_commit(by, kind=AuditKind.LOBBY_CLOSED, lobby_id=lobby_id, target=f"lobby {lobby_id}")
    return [events.lobby_closed(lobby_id), *dismissed]
