"""The reconnect path's statements against the ORM's view of the same rows (SQLite here, Postgres in CI)."""
from __future__ import annotations

from typing import Any, Callable

import pytest
from django.utils import timezone

from lobbies import hot_sql, services
from lobbies.models import Participant

pytestmark = pytest.mark.django_db


def join(lobby_id: str, session_id: str, channel: str) -> services.JoinResult:
    return services.lobby_join(lobby_id=lobby_id, session_id=session_id, name=None, password=None,
                               channel_name=channel, instance_id="proc-1")


def test_admission_tells_a_missing_session_from_a_missing_or_closed_lobby(
    new_session: Callable[..., tuple[str, str]], new_lobby: Callable[..., str]
) -> None:
    session_id, _ = new_session("Ann")
    lobby_id = new_lobby()
    assert hot_sql.session_and_lobby_exist(session_id=session_id, lobby_id=lobby_id) == (True, True)
    assert hot_sql.session_and_lobby_exist(session_id="nobody", lobby_id=lobby_id) == (False, True)
    assert hot_sql.session_and_lobby_exist(session_id=session_id, lobby_id="no-such-lobby") == (True, False)
    # Quotes and SQL in ids are plain values.
    assert hot_sql.session_and_lobby_exist(session_id="' OR 1=1 --", lobby_id="x'; DROP") == (False, False)
    services.lobby_close(lobby_id=lobby_id)
    assert hot_sql.session_and_lobby_exist(session_id=session_id, lobby_id=lobby_id) == (True, False)


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
    services.lobby_close(lobby_id=lobby_id)
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
