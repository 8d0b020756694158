"""The statements of the reconnect path, written as SQL.

A reconnect storm runs three database calls per socket: the check at
connect, the disconnect of the old socket and the join (which reads the
lobby, resumes, and reads who else is in the lobby and the chat history). The
ORM compiles every query afresh, about 0.5 to 1 ms of CPU each on a small
machine, which made these calls most of a storm's cost. Here each is one
statement that SQLite (3.35 and newer: ``RETURNING``; checked at start, see
``LobbiesConfig``) and PostgreSQL both run, with the table and column names
taken from the models, and each result turned into model instances by its
columns' names. Everything else goes through the ORM.

A row becomes an instance the way ``Model.from_db`` would leave it (the
selected fields in its ``__dict__``, the others deferred, its state loaded
from this database), without ``Model.__init__`` and its per-field work: a
join reads ten rows and building them was a third of its cost on the
database thread. That shortcut is taken only while it changes nothing: no
``pre_init`` or ``post_init`` receiver for the model, no ``__init__`` or
``from_db`` of its own, and only fields whose descriptors store what they
are given; otherwise the row goes through ``from_db``.
"""
from __future__ import annotations

from datetime import datetime
from datetime import timezone as dt_timezone
from collections.abc import Callable
from functools import cache
from operator import itemgetter
from typing import Any, TypeVar

from django.db import connection
from django.db.models import BooleanField, DateTimeField, Field, Model
from django.db.models.base import ModelState
from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute
from django.db.models.query_utils import DeferredAttribute
from django.db.models.signals import post_init, pre_init
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from lobbies.models import ChatMessage, GuestSession, Lobby, Participant

M = TypeVar("M", bound=Model)

# The lobby's fields a join needs (its answer shows the lobby); the rest stay deferred.
LOBBY_FIELDS = ("id", "name", "description", "private", "password_hash", "max_participants", "created_by_id",
                "created_at", "empty_since", "locked")
# A chat message's fields its answer shows.
CHAT_FIELDS = ("id", "session_id", "name", "text", "created_at", "is_bot", "transcript_speaker_id")
# The participant's fields (attnames) the callers need; the rest stay deferred on the instance.
# (Each result is read by its columns' names, so their order here is free.)
PARTICIPANT_FIELDS = ("id", "lobby_id", "session_id", "name", "is_bot", "muted", "status",
                      "channel_name", "instance_id", "epoch", "bot_kind", "bot_profile", "bot_state")


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
            f"SELECT (SELECT {column(GuestSession, 'is_bot')} FROM {session} WHERE {column(GuestSession, 'id')} = %s),"
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


def _converter(field: Field[Any, Any]) -> Callable[[Any], Any] | None:
    """What turns a column's raw value into what the ORM reads (SQLite answers 0 and 1, and text dates)."""
    if isinstance(field, BooleanField):
        return bool
    if isinstance(field, DateTimeField):
        return _datetime
    return None


Converters = tuple[tuple[int, Callable[[Any], Any]], ...]


@cache
def _row_mapping(
    model: type[Model], columns: tuple[str, ...]
) -> tuple[list[str], Callable[[tuple[Any, ...]], tuple[Any, ...]], Converters]:
    """For a result's columns (found by name): the attnames in the model's field order, what picks a
    row's values in that order, and the converters of the values that need one, by their place in
    the picked values. ``Model.from_db`` takes values in field order. (Picking with ``itemgetter``
    and converting only the few booleans and datetimes: a value at a time in Python was most of
    turning a join's ten rows into instances.)"""
    position = {name: index for index, name in enumerate(columns)}
    fields = [field for field in model._meta.concrete_fields if field.column in position]
    if len(fields) != len(columns):
        known = {field.column for field in fields}
        unknown = ", ".join(name for name in columns if name not in known)
        raise LookupError(f"result columns {unknown} are not fields of {model.__name__}")
    order = [position[field.column] for field in fields]
    pick = itemgetter(*order) if len(order) > 1 else (lambda row: (row[order[0]],))
    converters = tuple((place, convert) for place, field in enumerate(fields) if (convert := _converter(field)))
    return [field.attname for field in fields], pick, converters


@cache
def _plain_model(model: type[Model]) -> bool:
    """Whether the model builds its instances as ``Model`` does and every field stores what it is set to."""
    stores_as_given = (DeferredAttribute, ForeignKeyDeferredAttribute)
    return (
        model.__init__ is Model.__init__
        and model.from_db.__func__ is Model.from_db.__func__  # type: ignore[attr-defined]
        and all(type(model.__dict__.get(field.attname)) in stores_as_given for field in model._meta.concrete_fields)
    )


def _loaded(model: type[M], alias: str, values: dict[str, Any]) -> M:
    """An instance as ``from_db`` leaves it: these attnames' values set, the rest deferred."""
    instance = model.__new__(model)
    state = ModelState()
    state.adding = False
    state.db = alias
    instance._state = state
    instance.__dict__.update(values)
    return instance


def _instances(model: type[M], cursor: Any, rows: list[tuple[Any, ...]]) -> list[M]:
    """Model instances of the selected columns (the other fields deferred), each value put by its column's name."""
    attnames, pick, converters = _row_mapping(model, tuple(column[0] for column in cursor.description))
    values: list[Any] = []
    for row in rows:
        picked = pick(row)
        if converters:
            picked = list(picked)
            for place, convert in converters:
                if picked[place] is not None:
                    picked[place] = convert(picked[place])
        values.append(picked)
    alias = connection.alias
    if _plain_model(model) and not pre_init.has_listeners(model) and not post_init.has_listeners(model):
        return [_loaded(model, alias, dict(zip(attnames, row))) for row in values]
    return [model.from_db(alias, attnames, row) for row in values]


def _one(model: type[M], cursor: Any) -> M | None:
    row = cursor.fetchone()
    return None if row is None else _instances(model, cursor, [row])[0]


def lobby_open_locked(*, lobby_id: str) -> Lobby | None:
    """The lobby if it exists and is open, locked for the transaction where the database can."""
    with connection.cursor() as cursor:
        cursor.execute(_statements(connection.vendor)["lobby"], [lobby_id])
        return _one(Lobby, cursor)


def chat_history(*, lobby_id: str, limit: int) -> list[ChatMessage]:
    """The lobby's last ``limit`` chat messages, oldest first."""
    with connection.cursor() as cursor:
        cursor.execute(_statements(connection.vendor)["history"], [lobby_id, limit])
        return _instances(ChatMessage, cursor, cursor.fetchall()[::-1])


def participants_others(*, lobby_id: str, participant_id: int) -> list[Participant]:
    """Everyone in the lobby but this participant, in join order."""
    with connection.cursor() as cursor:
        cursor.execute(_statements(connection.vendor)["others"], [lobby_id, participant_id])
        return _instances(Participant, cursor, cursor.fetchall())


def session_admission(*, session_id: str, lobby_id: str) -> tuple[bool | None, bool]:
    """Whether the session is a bot's (None when there is no such session), and whether
    the lobby exists and is open: one query."""
    with connection.cursor() as cursor:
        cursor.execute(_statements(connection.vendor)["admission"], [session_id, lobby_id])
        is_bot, lobbies = cursor.fetchone()
    return (None if is_bot is None else bool(is_bot)), bool(lobbies)


def participant_mark_reconnecting(
    *, session_id: str, lobby_id: str, channel_name: str, now: datetime
) -> Participant | None:
    """The participant whose place ``channel_name`` holds, now reconnecting; None when it holds none."""
    with connection.cursor() as cursor:
        cursor.execute(_statements(connection.vendor)["disconnect"], [
            Participant.Status.RECONNECTING.value, connection.ops.adapt_datetimefield_value(now),
            session_id, lobby_id, channel_name,
        ])
        return _one(Participant, cursor)


def participant_mark_resumed(
    *, session_id: str, lobby_id: str, channel_name: str, instance_id: str, epoch: str
) -> Participant | None:
    """This session's participant in the lobby, now connected through ``channel_name``; None when it has none."""
    with connection.cursor() as cursor:
        cursor.execute(_statements(connection.vendor)["resume"], [
            Participant.Status.CONNECTED.value, channel_name, instance_id, epoch, session_id, lobby_id,
        ])
        return _one(Participant, cursor)
