"""The reconnect path's statements against the ORM's view of the same rows (SQLite here, Postgres in CI)."""
from __future__ import annotations

from typing import Any, Callable

import pytest
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, connections
from django.utils import timezone

import lobbies.apps
from lobbies import hot_sql, moderation, services
from lobbies.models import Lobby, Participant

pytestmark = pytest.mark.django_db


def join(lobby_id: str, session_id: str, channel: str) -> services.JoinResult:
    return services.lobby_join(lobby_id=lobby_id, session_id=session_id, name=None, password=None,
                               channel_name=channel, instance_id="proc-1")


def test_admission_tells_a_missing_session_from_a_missing_or_closed_lobby(
    new_session: Callable[..., tuple[str, str]], new_lobby: Callable[..., str]
) -> None:
    session_id, _ = new_session("Ann")
    lobby_id = new_lobby()
    bot, _ = services.session_create(name="Echo", is_bot=True)
    assert hot_sql.session_admission(session_id=session_id, lobby_id=lobby_id) == (False, True)
    assert hot_sql.session_admission(session_id=bot.id, lobby_id=lobby_id) == (True, True)
    assert hot_sql.session_admission(session_id="nobody", lobby_id=lobby_id) == (None, True)
    assert hot_sql.session_admission(session_id=session_id, lobby_id="no-such-lobby") == (False, False)
    # Quotes and SQL in ids are plain values.
    assert hot_sql.session_admission(session_id="' OR 1=1 --", lobby_id="x'; DROP") == (None, False)
    moderation.lobby_close(lobby_id=lobby_id)
    assert hot_sql.session_admission(session_id=session_id, lobby_id=lobby_id) == (False, False)


def test_disconnect_and_resume_return_what_the_orm_then_reads(
    new_session: Callable[..., tuple[str, str]], new_lobby: Callable[..., str]
) -> None:
    lobby_id = new_lobby()
    session_id, _ = new_session("Bea")
    join(lobby_id, session_id, "chan-1")
    Participant.objects.filter(session_id=session_id).update(muted=True)

    # Only the socket holding the place can give it up.
    now = timezone.now()
    assert hot_sql.participant_mark_reconnecting(
        session_id=session_id, lobby_id=lobby_id, channel_name="chan-other", now=now) is None
    away = hot_sql.participant_mark_reconnecting(
        session_id=session_id, lobby_id=lobby_id, channel_name="chan-1", now=now)
    assert away is not None
    stored = Participant.objects.get(session_id=session_id)
    assert (stored.status, stored.channel_name, stored.instance_id) == ("reconnecting", "", "")
    assert abs((stored.disconnected_at - now).total_seconds()) < 1e-3
    assert (away.name, away.muted, away.is_bot, away.status) == ("Bea", True, False, "reconnecting")
    assert isinstance(away.muted, bool) and isinstance(away.is_bot, bool)

    back = hot_sql.participant_mark_resumed(
        session_id=session_id, lobby_id=lobby_id, channel_name="chan-2", instance_id="proc-2", epoch="e2")
    assert back is not None
    stored = Participant.objects.get(session_id=session_id)
    assert (stored.status, stored.channel_name, stored.instance_id, stored.epoch, stored.disconnected_at) == (
        "connected", "chan-2", "proc-2", "e2", None)
    assert (back.pk, back.session_id, back.lobby_id, back.epoch) == (stored.pk, session_id, lobby_id, "e2")
    # A field it did not read loads on access.
    assert back.joined_at == stored.joined_at
    # No place in another lobby to resume.
    assert hot_sql.participant_mark_resumed(
        session_id=session_id, lobby_id=new_lobby(), channel_name="c", instance_id="p", epoch="e") is None


def test_others_are_everyone_else_in_join_order(
    new_session: Callable[..., tuple[str, str]], new_lobby: Callable[..., str]
) -> None:
    lobby_id = new_lobby()
    joined: list[Any] = [join(lobby_id, new_session(name)[0], f"chan-{name}") for name in ("A", "B", "C")]
    me = joined[1].participant
    others = hot_sql.participants_others(lobby_id=lobby_id, participant_id=me.pk)
    assert [p.name for p in others] == ["A", "C"]
    assert [p.channel_name for p in others] == ["chan-A", "chan-C"]
    assert hot_sql.participants_others(lobby_id=new_lobby(), participant_id=me.pk) == []


def test_the_lobby_read_matches_the_orm_and_skips_closed_lobbies(new_lobby: Callable[..., str]) -> None:
    from lobbies.models import Lobby

    lobby_id = new_lobby(name="Hot", private=True, password="pw", max_participants=5)
    read = hot_sql.lobby_open_locked(lobby_id=lobby_id)
    stored = Lobby.objects.get(pk=lobby_id)
    assert read is not None
    assert (read.id, read.name, read.private, read.has_password, read.max_participants, read.created_at) == (
        stored.id, "Hot", True, True, 5, stored.created_at)
    assert read.created_at.tzinfo is not None
    assert hot_sql.lobby_open_locked(lobby_id="no-such-lobby") is None
    moderation.lobby_close(lobby_id=lobby_id)
    assert hot_sql.lobby_open_locked(lobby_id=lobby_id) is None


def test_chat_history_is_the_last_messages_oldest_first_as_the_orm_reads_them(
    new_session: Callable[..., tuple[str, str]], new_lobby: Callable[..., str]
) -> None:
    from lobbies.models import ChatMessage

    lobby_id = new_lobby()
    session_id, _ = new_session("Cy")
    join(lobby_id, session_id, "chan-c")
    for n in range(5):
        services.chat_post(session_id=session_id, lobby_id=lobby_id, text=f"m{n}")
    history = hot_sql.chat_history(lobby_id=lobby_id, limit=3)
    assert [m.text for m in history] == ["m2", "m3", "m4"]
    stored = {m.pk: m for m in ChatMessage.objects.filter(lobby_id=lobby_id)}
    for message in history:
        original = stored[message.pk]
        assert (message.session_id, message.name, message.created_at) == (session_id, "Cy", original.created_at)
    assert hot_sql.chat_history(lobby_id=new_lobby(), limit=3) == []


def test_rows_are_read_by_column_name_whatever_the_order(
    new_session: Callable[..., tuple[str, str]], new_lobby: Callable[..., str]
) -> None:
    """A statement whose columns come in another order than the fields still fills each field with its own column."""
    lobby_id = new_lobby()
    session_id, _ = new_session("Cid")
    join(lobby_id, session_id, "chan-9")
    table = connection.ops.quote_name(Participant._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT "status", "name", "muted", "id", "channel_name" FROM {table} WHERE "name" = %s',
                       ["Cid"])
        [participant] = hot_sql._instances(Participant, cursor, cursor.fetchall())  # noqa: SLF001
    assert (participant.name, participant.status, participant.channel_name, participant.muted) == (
        "Cid", "connected", "chan-9", False)


def test_a_result_column_that_is_no_field_is_refused(new_lobby: Callable[..., str]) -> None:
    lobby_id = new_lobby()
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT "id", 1 AS "surprise" FROM {connection.ops.quote_name(Lobby._meta.db_table)}'
                       ' WHERE "id" = %s', [lobby_id])
        with pytest.raises(LookupError, match="surprise"):
            hot_sql._instances(Lobby, cursor, cursor.fetchall())


def test_a_sqlite_older_than_3_35_is_refused_at_start_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lobbies.apps.sqlite3, "sqlite_version_info", (3, 34, 1))
    monkeypatch.setattr(lobbies.apps.sqlite3, "sqlite_version", "3.34.1")
    monkeypatch.setattr(type(connections["default"]), "vendor", "sqlite")
    with pytest.raises(ImproperlyConfigured, match=r"^SQLite 3\.34\.1 is too old: VoiceBot needs SQLite 3\.35\.0"):
        apps.get_app_config("lobbies").ready()


def test_a_join_a_resume_and_a_disconnect_take_a_fixed_number_of_queries(
    new_session: Callable[..., tuple[str, str]], new_lobby: Callable[..., str], django_assert_num_queries: Any
) -> None:
    lobby_id = new_lobby()
    join(lobby_id, new_session("Dee")[0], "chan-d")
    session_id, _ = new_session("Eve")
    # Inside the test's transaction each service's atomic block is a SAVEPOINT and its RELEASE: two more.
    # lobby (locked), resume attempt, own place elsewhere, session, bars of kicked sessions, the line of
    # waiters, seats, name, insert (its own savepoint and release), others, history
    with django_assert_num_queries(2 + 13):
        join(lobby_id, session_id, "chan-e")
    # the conditional UPDATE ... RETURNING, on its own (no savepoint: one statement is atomic)
    with django_assert_num_queries(1):
        services.participant_disconnect(session_id=session_id, lobby_id=lobby_id, channel_name="chan-e")
    # lobby (locked), resume, others, history
    with django_assert_num_queries(2 + 4):
        result = join(lobby_id, session_id, "chan-e2")
    assert result.resumed


def test_rows_become_instances_the_orm_could_have_loaded(
    new_session: Callable[..., tuple[str, str]], new_lobby: Callable[..., str]
) -> None:
    lobby_id = new_lobby()
    session_id, _ = new_session("Fay")
    join(lobby_id, session_id, "chan-f")
    others = hot_sql.participants_others(lobby_id=lobby_id, participant_id=-1)
    [built] = others
    loaded = Participant.objects.only(*hot_sql.PARTICIPANT_FIELDS).get(session_id=session_id)
    assert type(built) is Participant
    assert built.get_deferred_fields() == loaded.get_deferred_fields() and "joined_at" in built.get_deferred_fields()
    assert {name: getattr(built, name) for name in hot_sql.PARTICIPANT_FIELDS} == {
        name: getattr(loaded, name) for name in hot_sql.PARTICIPANT_FIELDS}
    assert (built._state.adding, built._state.db) == (False, loaded._state.db)
    # It behaves as a loaded instance: relations, deferred fields, saving only what changed.
    assert built.lobby.pk == lobby_id and built.session.pk == session_id
    built.name = "Fay two"
    built.save(update_fields=["name"])
    assert Participant.objects.get(pk=built.pk).name == "Fay two"
    assert built.joined_at == loaded.joined_at


def test_a_model_with_an_init_receiver_is_built_through_the_orm(
    new_session: Callable[..., tuple[str, str]], new_lobby: Callable[..., str]
) -> None:
    from django.db.models.signals import post_init

    lobby_id = new_lobby()
    join(lobby_id, new_session("Gus")[0], "chan-g")
    seen: list[Participant] = []

    def receiver(sender: Any, instance: Participant, **kwargs: Any) -> None:
        seen.append(instance)

    post_init.connect(receiver, sender=Participant)
    try:
        others = hot_sql.participants_others(lobby_id=lobby_id, participant_id=-1)
    finally:
        post_init.disconnect(receiver, sender=Participant)
    assert seen == others and len(others) == 1
    loaded = Participant.objects.only(*hot_sql.PARTICIPANT_FIELDS).get(pk=others[0].pk)
    assert others[0].get_deferred_fields() == loaded.get_deferred_fields() == {
        "name_key", "joined_at", "disconnected_at", "address"}
