"""Every change to sessions, lobbies and participants.

Each service is one transaction and returns the events to send once it has
committed (see ``lobbies.events``). They are synchronous: async callers run
them through ``resilience.database.db_call``.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from errors.exceptions import ForbiddenError, InvalidMessageError, NotJoinedError, UnauthenticatedError
from lobbies import events, hot_sql, seats
from lobbies.events import Event
from lobbies.exceptions import (
    InvalidLobbyPasswordError,
    KickedRejoinError,
    LobbyFullError,
    LobbyLockedError,
    LobbyNotFoundError,
    NameTakenError,
    PasswordCheckRequired,
)
from lobbies.models import (
    CHAT_HISTORY_LENGTH,
    DEFAULT_MAX_PARTICIPANTS,
    MAX_PARTICIPANTS,
    MIN_PARTICIPANTS,
    ChatMessage,
    GuestSession,
    Lobby,
    LobbyBan,
    Participant,
    new_session_id,
)
from lobbies.presenters import chat_public, participant_public
from lobbies.tokens import session_token_issue
from lobbies.validation import (
    chat_text_clean,
    lobby_description_clean,
    lobby_name_clean,
    participant_name_clean,
    participant_name_key,
    password_clean,
)

PASSWORD_MAX_LENGTH = 128
JOIN_PASSWORD_MAX_LENGTH = 1024
# What a session id can be (new_session_id: 32 hexadecimal digits); anything else names no one.
SESSION_ID = re.compile(r"[0-9a-f]{32}")


def session_create(*, name: Any = None, is_bot: bool = False) -> tuple[GuestSession, str]:
    """A new guest session and its token (the only time the token exists)."""
    clean_name = "" if name is None else participant_name_clean(name)
    session = GuestSession.objects.create(name=clean_name, is_bot=is_bot)
    return session, session_token_issue(session_id=session.id)


def lobby_create(
    *,
    session_id: str,
    name: Any,
    private: Any = False,
    password: Any = None,
    max_participants: Any = DEFAULT_MAX_PARTICIPANTS,
    description: Any = None,
) -> Lobby:
    clean_name = lobby_name_clean(name)
    clean_description = lobby_description_clean(description)
    if not GuestSession.objects.filter(pk=session_id).exists():
        raise UnauthenticatedError("Your session no longer exists. Start a new session.",
                                   context={"token": "session_gone"})
    if not isinstance(private, bool):
        raise InvalidMessageError("'private' must be true or false.")
    password = password_clean(password, max_length=PASSWORD_MAX_LENGTH)
    if (
        not isinstance(max_participants, int)
        or isinstance(max_participants, bool)
        or not MIN_PARTICIPANTS <= max_participants <= MAX_PARTICIPANTS
    ):
        raise InvalidMessageError(
            f"'max_participants' must be a whole number from {MIN_PARTICIPANTS} to {MAX_PARTICIPANTS}."
        )
    return Lobby.objects.create(
        name=clean_name,
        description=clean_description,
        # Nobody is in it yet: it closes if nobody comes (lobbies.expiry).
        empty_since=timezone.now(),
        private=private,
        password_hash=make_password(password) if password else "",
        max_participants=max_participants,
        created_by_id=session_id,
    )


@dataclass
class JoinResult:
    lobby: Lobby
    participant: Participant
    # Everyone else in the lobby, connected or reconnecting, in join order.
    others: list[Participant]
    chat_history: list[ChatMessage]
    resumed: bool
    events: list[Event] = field(default_factory=list)

    @property
    def participant_count(self) -> int:
        """Seats held: bots hold none."""
        return sum(not p.is_bot for p in self.others) + (not self.participant.is_bot)


def lobby_join(
    *,
    lobby_id: str,
    session_id: str,
    name: Any,
    password: Any,
    channel_name: str,
    instance_id: str,
    password_hash_verified: str | None = None,
    defer_password_check: bool = False,
    address: str = "",
    bot_kind: str = "",
    bot_profile: str = "",
) -> JoinResult:
    """Enter a lobby, or resume this session's place in it.

    With ``defer_password_check`` the password is not hashed here (on the
    database thread): a lobby with a password raises ``PasswordCheckRequired``
    with its hash, and the caller checks the password elsewhere
    (``lobbies.passwords``) and calls again with ``password_hash_verified``.
    A bot's session enters with its ``bot_kind`` and ``bot_profile`` (its
    state starts as ``starting``); a bot takes no seat.

    A session that still holds a place in this lobby (reconnecting, or
    connected through a socket that is gone) resumes it: no password, its
    name kept. A new entry is refused to a session or address kicked from
    this lobby lately (``kicked`` with a ``retry_after``), then by a locked
    lobby (``lobby_locked``), then by a wrong password. A session in another
    lobby leaves that one first. Without a ``name`` the session's default name (from POST /api/sessions) is used.
    The session that created a lobby needs no password to enter it.

    A full lobby (counting the sessions that wait for a seat ahead of this
    one, see ``lobbies.seats``) puts the session in its queue and raises
    LobbyFullError with its place.
    """
    password = password_clean(password, max_length=JOIN_PASSWORD_MAX_LENGTH)
    outcome = _lobby_enter(
        lobby_id=lobby_id, session_id=session_id, name=name, password=password, channel_name=channel_name,
        instance_id=instance_id, password_hash_verified=password_hash_verified,
        defer_password_check=defer_password_check, address=address, bot_kind=bot_kind, bot_profile=bot_profile,
    )
    if isinstance(outcome, LobbyFullError):
        # Raised once the transaction committed the session's place in the queue.
        raise outcome
    return outcome


def _lobby_enter(
    *, lobby_id: str, session_id: str, name: Any, password: Any, channel_name: str, instance_id: str,
    password_hash_verified: str | None, defer_password_check: bool, address: str, bot_kind: str, bot_profile: str,
) -> JoinResult | LobbyFullError:
    with transaction.atomic():
        lobby = hot_sql.lobby_open_locked(lobby_id=lobby_id)
        if lobby is None:
            raise LobbyNotFoundError()
        emitted: list[Event] = []
        # Resuming (every reconnect) is one statement.
        resumed_participant = hot_sql.participant_mark_resumed(
            session_id=session_id, lobby_id=lobby.id, channel_name=channel_name, instance_id=instance_id,
            epoch=new_session_id(),
        )
        if resumed_participant is not None:
            participant = resumed_participant
            emitted.append(
                events.participant_resumed(
                    lobby.id, participant_public(participant), channel=channel_name, epoch=participant.epoch
                )
            )
            resumed = True
        else:
            existing = Participant.objects.select_for_update().filter(session_id=session_id).first()
            session = GuestSession.objects.filter(pk=session_id).first()
            if session is None:
                raise UnauthenticatedError("Your session no longer exists. Start a new session.")
            # The name given to POST /api/sessions is the default when join names none.
            clean_name = participant_name_clean(session.name if name is None and session.name else name)
            lobby_entry_check(lobby, session_id=session_id, address=address)
            if lobby.has_password and lobby.created_by_id != session_id and not (
                password_hash_verified is not None and constant_time_compare(password_hash_verified, lobby.password_hash)
            ):
                if not password:
                    raise InvalidLobbyPasswordError()
                if defer_password_check:
                    raise PasswordCheckRequired(lobby.password_hash)
                if not check_password(password, lobby.password_hash):
                    raise InvalidLobbyPasswordError()
            # A bot takes no seat (and waits for none).
            queue = [] if session.is_bot else seats.seat_queue(lobby_id=lobby.id)
            ahead = queue.index(session_id) if session_id in queue else len(queue)
            if not session.is_bot and lobby.participants.filter(is_bot=False).count() + ahead >= lobby.max_participants:
                seats.seat_waiter_enqueue(lobby_id=lobby.id, session_id=session_id, channel_name=channel_name,
                                          instance_id=instance_id, position=ahead + 1)
                return LobbyFullError(position=ahead + 1)
            if existing is not None:
                emitted.extend(participant_remove(existing, reason="left"))
            participant = _participant_add(
                lobby, session=session, name=clean_name, channel_name=channel_name, instance_id=instance_id,
                address=address, bot_kind=bot_kind, bot_profile=bot_profile,
            )
            if session_id in queue:
                seats.seat_waiter_leave(session_id=session_id)
            if lobby.empty_since is not None and not session.is_bot:
                Lobby.objects.filter(pk=lobby.id).update(empty_since=None)
            emitted.append(
                events.participant_joined(
                    lobby.id, participant_public(participant), channel=channel_name, epoch=participant.epoch
                )
            )
            resumed = False
        others = hot_sql.participants_others(lobby_id=lobby.id, participant_id=participant.pk)
        history = hot_sql.chat_history(lobby_id=lobby.id, limit=CHAT_HISTORY_LENGTH)
    return JoinResult(
        lobby=lobby, participant=participant, others=others, chat_history=history, resumed=resumed, events=emitted
    )


def lobby_entry_check(lobby: Lobby, *, session_id: str, address: str) -> None:
    """KickedError while this session or address is barred from the lobby; LobbyLockedError when it is locked."""
    bans = LobbyBan.objects.filter(lobby=lobby, until__gt=timezone.now())
    barred = Q(session_id=session_id) | Q(address=address) if address else Q(session_id=session_id)
    until = bans.filter(barred).order_by("-until").values_list("until", flat=True).first()
    if until is not None:
        raise KickedRejoinError(retry_after=max(1.0, round((until - timezone.now()).total_seconds())))
    if lobby.locked:
        raise LobbyLockedError()


def _participant_add(
    lobby: Lobby, *, session: GuestSession, name: str, channel_name: str, instance_id: str, address: str = "",
    bot_kind: str = "", bot_profile: str = "",
) -> Participant:
    key = participant_name_key(name)
    if lobby.participants.filter(name_key=key).exists():
        raise NameTakenError()
    try:
        with transaction.atomic():
            return Participant.objects.create(
                lobby=lobby,
                session=session,
                name=name,
                name_key=key,
                is_bot=session.is_bot,
                channel_name=channel_name,
                instance_id=instance_id,
                address=address[:64],
                bot_kind=bot_kind if session.is_bot else "",
                bot_profile=bot_profile if session.is_bot else "",
                bot_state=Participant.BotState.STARTING if session.is_bot else "",
            )
    except IntegrityError:
        # Another socket took the name between the check and the insert.
        raise NameTakenError() from None


def participant_remove(participant: Participant, *, reason: str) -> list[Event]:
    """Delete a participant (locked by the caller's transaction); the event of its departure."""
    participant.delete()
    discard = (participant.channel_name,) if participant.channel_name else ()
    return [
        events.participant_left(
            participant.lobby_id, participant.session_id, reason=reason, epoch=participant.epoch, discard=discard
        )
    ]


def _joined_participant(*, session_id: str, lobby_id: str, lock: bool = False) -> Participant:
    query = Participant.objects.filter(session_id=session_id, lobby_id=lobby_id)
    if lock:
        query = query.select_for_update()
    participant = query.first()
    if participant is None:
        raise NotJoinedError()
    return participant


def _socket_participant(*, session_id: str, lobby_id: str, channel_name: str) -> Participant | None:
    """The participant whose place ``channel_name`` holds, locked for the transaction."""
    return (
        Participant.objects.select_for_update()
        .filter(session_id=session_id, lobby_id=lobby_id, channel_name=channel_name)
        .first()
    )


def participant_leave(*, session_id: str, lobby_id: str, channel_name: str) -> list[Event]:
    """Leave on purpose (the ``leave`` frame); the socket stays open."""
    with transaction.atomic():
        participant = _socket_participant(session_id=session_id, lobby_id=lobby_id, channel_name=channel_name)
        if participant is None:
            raise NotJoinedError()
        return participant_remove(participant, reason="left")


def participant_disconnect(*, session_id: str, lobby_id: str, channel_name: str) -> list[Event]:
    """The socket dropped without ``leave``: hold the place for the grace period.

    Only the socket that holds the place can give it up: a socket that was
    replaced by a newer one of the same session changes nothing. Holding the
    place is one statement, atomic without a transaction around it.
    """
    if settings.VOICEBOT_RECONNECT_GRACE <= 0:
        with transaction.atomic():
            participant = _socket_participant(session_id=session_id, lobby_id=lobby_id, channel_name=channel_name)
            if participant is None:
                return []
            return participant_remove(participant, reason="disconnected")
    participant = hot_sql.participant_mark_reconnecting(
        session_id=session_id, lobby_id=lobby_id, channel_name=channel_name, now=timezone.now()
    )
    if participant is None:
        return []
    return [events.participant_updated(
        lobby_id, participant_public(participant), epoch=participant.epoch, discard=(channel_name,)
    )]


def participant_rename(*, session_id: str, lobby_id: str, name: Any) -> list[Event]:
    clean_name = participant_name_clean(name)
    key = participant_name_key(clean_name)
    with transaction.atomic():
        participant = _joined_participant(session_id=session_id, lobby_id=lobby_id, lock=True)
        if Participant.objects.filter(lobby_id=lobby_id, name_key=key).exclude(pk=participant.pk).exists():
            raise NameTakenError()
        participant.name = clean_name
        participant.name_key = key
        try:
            with transaction.atomic():
                participant.save(update_fields=["name", "name_key"])
        except IntegrityError:
            raise NameTakenError() from None
    return [events.participant_updated(lobby_id, participant_public(participant), epoch=participant.epoch)]


def participant_set_muted(*, session_id: str, lobby_id: str, muted: bool) -> list[Event]:
    with transaction.atomic():
        participant = _joined_participant(session_id=session_id, lobby_id=lobby_id, lock=True)
        participant.muted = muted
        participant.save(update_fields=["muted"])
    return [events.participant_updated(lobby_id, participant_public(participant), epoch=participant.epoch)]


def idempotency_key(frame_id: str | None) -> str:
    """The stored form of a frame's ``id`` (any string): its SHA-256 digest; empty without one."""
    if not frame_id:
        return ""
    return hashlib.sha256(frame_id.encode("utf-8", "surrogatepass")).hexdigest()


def chat_post(
    *, session_id: str, lobby_id: str, text: Any, transcript: Any = None, sender_channel: str = "",
    frame_id: str | None = None,
) -> list[Event]:
    """Store a chat message, keep the newest 50 of the lobby, broadcast it.

    The copy that reaches ``sender_channel`` answers the frame ``frame_id``.
    A message sent again with the ``id`` of one already stored (the client
    retrying after its broadcast failed) is not stored again: the stored one
    is broadcast again.
    A bot's message is marked ``is_bot``; only a bot may post a ``transcript``
    (``{"speaker_session_id": str}``), naming a participant of the lobby (the
    bot itself included).
    """
    clean_text = chat_text_clean(text)
    key = idempotency_key(frame_id)
    with transaction.atomic():
        participant = _joined_participant(session_id=session_id, lobby_id=lobby_id)
        speaker = _transcript_speaker(participant, transcript)
        if key:
            stored = ChatMessage.objects.filter(lobby_id=lobby_id, session_id=session_id, client_key=key).first()
            if stored is not None:
                return [events.chat_posted(lobby_id, chat_public(stored), sender_channel=sender_channel,
                                           frame_id=frame_id)]
        try:
            with transaction.atomic():
                message = ChatMessage.objects.create(
                    lobby_id=lobby_id, session_id=session_id, name=participant.name, text=clean_text, client_key=key,
                    is_bot=participant.is_bot, transcript_speaker_id=speaker,
                )
        except IntegrityError:
            # The same frame, resent, was stored meanwhile by another socket of this session.
            stored = ChatMessage.objects.get(lobby_id=lobby_id, session_id=session_id, client_key=key)
            return [events.chat_posted(lobby_id, chat_public(stored), sender_channel=sender_channel,
                                       frame_id=frame_id)]
        cutoff = (
            ChatMessage.objects.filter(lobby_id=lobby_id)
            .order_by("-id")
            .values_list("id", flat=True)[CHAT_HISTORY_LENGTH : CHAT_HISTORY_LENGTH + 1]
        )
        oldest_kept = next(iter(cutoff), None)
        if oldest_kept is not None:
            ChatMessage.objects.filter(lobby_id=lobby_id, id__lte=oldest_kept).delete()
    return [events.chat_posted(lobby_id, chat_public(message), sender_channel=sender_channel, frame_id=frame_id)]


def _transcript_speaker(participant: Participant, transcript: Any) -> str:
    """The speaker a chat message transcribes ("" for typed chat); only bots post transcripts."""
    if transcript is None:
        return ""
    if not participant.is_bot:
        raise ForbiddenError("Only a bot posts transcripts.")
    if not isinstance(transcript, dict) or not isinstance(transcript.get("speaker_session_id"), str):
        raise InvalidMessageError("'transcript' must be an object with a string 'speaker_session_id'.")
    speaker = transcript["speaker_session_id"]
    if not SESSION_ID.fullmatch(speaker) or not Participant.objects.filter(lobby_id=participant.lobby_id, session_id=speaker).exists():
        raise InvalidMessageError("'transcript.speaker_session_id' must name a participant of this lobby.")
    return speaker


def participant_set_bot_state(*, session_id: str, lobby_id: str, state: Any) -> tuple[Participant, list[Event]]:
    """A bot says what it is doing; everyone gets ``participant_updated`` when it changed."""
    if state not in Participant.BotState.values:
        raise InvalidMessageError(f"'state' must be one of {', '.join(Participant.BotState.values)}.")
    with transaction.atomic():
        participant = _joined_participant(session_id=session_id, lobby_id=lobby_id, lock=True)
        if not participant.is_bot:
            raise ForbiddenError("Only a bot has a bot state.")
        if participant.bot_state == state:
            return participant, []
        participant.bot_state = state
        participant.save(update_fields=["bot_state"])
    return participant, [events.participant_updated(lobby_id, participant_public(participant), epoch=participant.epoch)]


def participant_dismiss(*, session_id: str, lobby_id: str, reason: str = "left") -> list[Event]:
    """Take a session's place in a lobby away (a bot removed by a participant); nothing when it has none."""
    with transaction.atomic():
        participant = Participant.objects.select_for_update().filter(session_id=session_id, lobby_id=lobby_id).first()
        if participant is None:
            return []
        emitted = participant_remove(participant, reason=reason)
        if participant.channel_name:
            emitted.append(events.participant_removed(
                lobby_id, participant.channel_name, session_id=session_id, epoch=participant.epoch, reason=reason
            ))
    return emitted

