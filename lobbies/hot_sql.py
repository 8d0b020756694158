"""The statements of the reconnect path, written as SQL.

A reconnect storm runs three database calls per socket: the check at
connect, the disconnect of the old socket and the join (which reads the
lobby, resumes, and reads who else is in the lobby and the chat history). The
ORM compiles every query afresh, about 0.5 to 1 ms of CPU each on a small
machine, which made these calls most of a storm's cost. Here each is one
statement that SQLite (3.35 and newer) and PostgreSQL both run, with the
table and column names taken from the models. Everything else goes through
the ORM.
"""
from __future__ import annotations

from datetime import datetime
from datetime import timezone as dt_timezone
from collections.abc import Callable
from functools import cache
from typing import Any, TypeVar

from django.db import connection
from django.db.models import BooleanField, DateTimeField, Field, Model
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from lobbies.models import ChatMessage, GuestSession, Lobby, Participant

M = TypeVar("M", bound=Model)

# The lobby's fields a join needs (its answer shows the lobby); the rest stay deferred.
LOBBY_FIELDS = ("id", "name", "private", "password_hash", "max_participants", "created_at")
# A chat message's fields its answer shows.
CHAT_FIELDS = ("id", "session_id", "name", "text", "created_at")
# The participant's fields (attnames) the callers need; the rest stay deferred on the instance.
PARTICIPANT_FIELDS = ("id", "lobby_id", "session_id", "name", "is_bot", "muted", "status",
                      "channel_name", "instance_id", "epoch")


@cache
def _statements(vendor: str) -> dict[str, str]:
    quote = connection.ops.quote_name
    participant = quote(Participant._meta.db_table)
    lobby = quote(Lobby._meta.db_table)
    session = quote(GuestSession._meta.db_table)

    def column(model: Any, name: str) -> str:
        return quote(model._meta.get_field(name).column)

    def columns(model: type[Model], fields: tuple[str, ...]) -> str:
        by_attname = _fields_by_attname(model)
        return ", ".join(quote(by_attname[name].column) for name in fields)

    returning = columns(Participant, PARTICIPANT_FIELDS)
    return {
        "admission": (
            f"SELECT (SELECT COUNT(*) FROM {session} WHERE {column(GuestSession, 'id')} = %s),"
            f" (SELECT COUNT(*) FROM {lobby} WHERE {column(Lobby, 'id')} = %s"
            f" AND {column(Lobby, 'closed_at')} IS NULL)"
        ),
        "disconnect": (
            f"UPDATE {participant} SET {column(Participant, 'status')} = %s,"
            f" {column(Participant, 'channel_name')} = '', {column(Participant, 'instance_id')} = '',"
            f" {column(Participant, 'disconnected_at')} = %s"
            f" WHERE {column(Participant, 'session')} = %s AND {column(Participant, 'lobby')} = %s"
            f" AND {column(Participant, 'channel_name')} = %s RETURNING {returning}"
        ),
        "resume": (
            f"UPDATE {participant} SET {column(Participant, 'status')} = %s,"
            f" {column(Participant, 'channel_name')} = %s, {column(Participant, 'instance_id')} = %s,"
            f" {column(Participant, 'disconnected_at')} = NULL,"
            f" {column(Participant, 'epoch')} = %s"
            f" WHERE {column(Participant, 'session')} = %s AND {column(Participant, 'lobby')} = %s"
            f" RETURNING {returning}"
        ),
        "lobby": (
            f"SELECT {columns(Lobby, LOBBY_FIELDS)}"
            f" FROM {lobby} WHERE {column(Lobby, 'id')} = %s AND {column(Lobby, 'closed_at')} IS NULL"
            + (" FOR UPDATE" if connection.features.has_select_for_update else "")
        ),
        "history": (
            f"SELECT {columns(ChatMessage, CHAT_FIELDS)}"
            f" FROM {quote(ChatMessage._meta.db_table)} WHERE {column(ChatMessage, 'lobby')} = %s"
            f" ORDER BY {column(ChatMessage, 'id')} DESC LIMIT %s"
        ),
        "others": (
            f"SELECT {returning} FROM {participant} WHERE {column(Participant, 'lobby')} = %s"
            f" AND {column(Participant, 'id')} <> %s"
            f" ORDER BY {column(Participant, 'joined_at')}, {column(Participant, 'id')}"
        ),
    }


def _fields_by_attname(model: type[Model]) -> dict[str, Field[Any, Any]]:
    return {field.attname: field for field in model._meta.concrete_fields}


def _datetime(value: Any) -> datetime:
    """A datetime column as the ORM reads it: SQLite answers UTC without a zone (text or naive)."""
    if isinstance(value, str):
        value = parse_datetime(value)
        assert value is not None
    return value if timezone.is_aware(value) else value.replace(tzinfo=dt_timezone.utc)


@cache
def _converters(model: type[Model], fields: tuple[str, ...]) -> tuple[Callable[[Any], Any] | None, ...]:
    """What turns each column's raw value into what the ORM reads (SQLite answers 0 and 1, and text dates)."""
    by_attname = _fields_by_attname(model)

    def converter(field: Field[Any, Any]) -> Callable[[Any], Any] | None:
        if isinstance(field, BooleanField):
            return bool
        if isinstance(field, DateTimeField):
            return _datetime
        return None

    return tuple(converter(by_attname[name]) for name in fields)


def _instance(model: type[M], fields: tuple[str, ...], row: tuple[Any, ...]) -> M:
    """A model instance of the selected ``fields`` (the others deferred), from a raw row."""
    values = [
        value if convert is None or value is None else convert(value)
        for convert, value in zip(_converters(model, fields), row)
    ]
    return model.from_db(connection.alias, list(fields), values)


def _participant(row: tuple[Any, ...] | None) -> Participant | None:
    return None if row is None else _instance(Participant, PARTICIPANT_FIELDS, row)


def lobby_open_locked(*, lobby_id: str) -> Lobby | None:
    """The lobby if it exists and is open, locked for the transaction where the database can."""
    with connection.cursor() as cursor:
        cursor.execute(_statements(connection.vendor)["lobby"], [lobby_id])
        row = cursor.fetchone()
    return None if row is None else _instance(Lobby, LOBBY_FIELDS, row)


def chat_history(*, lobby_id: str, limit: int) -> list[ChatMessage]:
    """The lobby's last ``limit`` chat messages, oldest first."""
    with connection.cursor() as cursor:
        cursor.execute(_statements(connection.vendor)["history"], [lobby_id, limit])
        rows = cursor.fetchall()
    return [_instance(ChatMessage, CHAT_FIELDS, row) for row in reversed(rows)]


def participants_others(*, lobby_id: str, participant_id: int) -> list[Participant]:
    """Everyone in the lobby but this participant, in join order."""
    with connection.cursor() as cursor:
        cursor.execute(_statements(connection.vendor)["others"], [lobby_id, participant_id])
        return [_participant(row) for row in cursor.fetchall()]  # type: ignore[misc]


def session_and_lobby_exist(*, session_id: str, lobby_id: str) -> tuple[bool, bool]:
    """Whether the session exists, and whether the lobby exists and is open: one query."""
    with connection.cursor() as cursor:
        cursor.execute(_statements(connection.vendor)["admission"], [session_id, lobby_id])
        sessions, lobbies = cursor.fetchone()
    return bool(sessions), bool(lobbies)


def participant_mark_reconnecting(
    *, session_id: str, lobby_id: str, channel_name: str, now: datetime
) -> Participant | None:
    """The participant whose place ``channel_name`` holds, now reconnecting; None when it holds none."""
    with connection.cursor() as cursor:
        cursor.execute(_statements(connection.vendor)["disconnect"], [
            Participant.Status.RECONNECTING.value, connection.ops.adapt_datetimefield_value(now),
            session_id, lobby_id, channel_name,
        ])
        return _participant(cursor.fetchone())


def participant_mark_resumed(
    *, session_id: str, lobby_id: str, channel_name: str, instance_id: str, epoch: str
) -> Participant | None:
    """This session's participant in the lobby, now connected through ``channel_name``; None when it has none."""
    with connection.cursor() as cursor:
        cursor.execute(_statements(connection.vendor)["resume"], [
            Participant.Status.CONNECTED.value, channel_name, instance_id, epoch, session_id, lobby_id,
        ])
        return _participant(cursor.fetchone())
