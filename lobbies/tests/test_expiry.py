"""Empty lobbies close after a while; the chat of closed lobbies expires."""
from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from lobbies import moderation, services
from lobbies.expiry import chat_prune_closed, lobby_expiry_sweep
from lobbies.models import ChatMessage, Lobby, Participant

NewSession = Callable[..., tuple[str, str]]
NewLobby = Callable[..., str]
Join = Callable[..., Participant]

CLOSE_AFTER = 900.0


@pytest.fixture(autouse=True)
def expiry_settings(settings: object) -> None:
    settings.VOICEBOT_EMPTY_LOBBY_CLOSE_AFTER = CLOSE_AFTER  # type: ignore[attr-defined]
    settings.VOICEBOT_CLOSED_LOBBY_CHAT_RETENTION = 3600.0  # type: ignore[attr-defined]


def closed_types(emitted: list) -> list[tuple[str, str | None]]:
    return [(event.message["type"], event.group) for event in emitted]


@pytest.mark.django_db
def test_a_lobby_nobody_joins_closes_after_the_setting(new_lobby: NewLobby) -> None:
    lobby_id = new_lobby()
    created = Lobby.objects.get(pk=lobby_id).empty_since
    assert created is not None

    assert lobby_expiry_sweep(now=created + timedelta(seconds=CLOSE_AFTER - 1)) == []
    emitted = lobby_expiry_sweep(now=created + timedelta(seconds=CLOSE_AFTER + 1))

    assert closed_types(emitted) == [("lobby.closed", f"lobby.{lobby_id}")]
    lobby = Lobby.objects.get(pk=lobby_id)
    assert lobby.closed_at == created + timedelta(seconds=CLOSE_AFTER + 1)
    assert lobby_expiry_sweep(now=created + timedelta(seconds=CLOSE_AFTER + 2)) == [], "closed once"


@pytest.mark.django_db
def test_a_lobby_with_people_stays_open_and_its_clock_starts_when_the_last_one_leaves(
    new_lobby: NewLobby, new_session: NewSession, join: Join
) -> None:
    lobby_id = new_lobby()
    ann = join(lobby_id, new_session()[0], "Ann")
    assert Lobby.objects.get(pk=lobby_id).empty_since is None, "a join stops the clock"
    start = timezone.now()
    assert lobby_expiry_sweep(now=start + timedelta(seconds=CLOSE_AFTER * 2)) == []

    services.participant_leave(session_id=ann.session_id, lobby_id=lobby_id, channel_name=ann.channel_name)
    left = start + timedelta(seconds=CLOSE_AFTER * 3)
    lobby_expiry_sweep(now=left)
    assert Lobby.objects.get(pk=lobby_id).empty_since == left

    assert lobby_expiry_sweep(now=left + timedelta(seconds=CLOSE_AFTER - 1)) == []
    assert len(lobby_expiry_sweep(now=left + timedelta(seconds=CLOSE_AFTER))) == 1


@pytest.mark.django_db
def test_a_reconnecting_participant_keeps_the_lobby_open(
    new_lobby: NewLobby, new_session: NewSession, join: Join
) -> None:
    lobby_id = new_lobby()
    ann = join(lobby_id, new_session()[0], "Ann")
    services.participant_disconnect(session_id=ann.session_id, lobby_id=lobby_id, channel_name=ann.channel_name)

    assert lobby_expiry_sweep(now=timezone.now() + timedelta(seconds=CLOSE_AFTER * 2)) == []
    assert Lobby.objects.get(pk=lobby_id).closed_at is None


@pytest.mark.django_db
def test_a_clock_started_by_a_sweep_that_raced_a_join_is_stopped(
    new_lobby: NewLobby, new_session: NewSession, join: Join
) -> None:
    lobby_id = new_lobby()
    join(lobby_id, new_session()[0], "Ann")
    Lobby.objects.filter(pk=lobby_id).update(empty_since=timezone.now() - timedelta(seconds=CLOSE_AFTER * 2))

    assert lobby_expiry_sweep() == []
    assert Lobby.objects.get(pk=lobby_id).empty_since is None


@pytest.mark.django_db
def test_zero_keeps_empty_lobbies_open(new_lobby: NewLobby, settings: object) -> None:
    settings.VOICEBOT_EMPTY_LOBBY_CLOSE_AFTER = 0  # type: ignore[attr-defined]
    lobby_id = new_lobby()

    assert lobby_expiry_sweep(now=timezone.now() + timedelta(days=30)) == []
    assert Lobby.objects.get(pk=lobby_id).closed_at is None


@pytest.mark.django_db
def test_closed_lobbies_keep_their_chat_for_the_retention_and_open_ones_keep_theirs(
    new_lobby: NewLobby, new_session: NewSession, join: Join
) -> None:
    closed_id, open_id = new_lobby(), new_lobby()
    for lobby_id in (closed_id, open_id):
        ann = join(lobby_id, new_session()[0], "Ann")
        services.chat_post(session_id=ann.session_id, lobby_id=lobby_id, text="hello")
    moderation.lobby_close(lobby_id=closed_id)
    closed_at = Lobby.objects.get(pk=closed_id).closed_at

    assert chat_prune_closed(now=closed_at + timedelta(seconds=3599)) == 0
    assert chat_prune_closed(now=closed_at + timedelta(seconds=3600)) == 1
    assert list(ChatMessage.objects.values_list("lobby_id", flat=True)) == [open_id]


@pytest.mark.django_db(transaction=True)
def test_two_processes_sweeping_at_once_close_a_lobby_once(new_lobby: NewLobby) -> None:
    lobby_id = new_lobby()
    later = timezone.now() + timedelta(seconds=CLOSE_AFTER + 1)

    def sweep() -> list:
        try:
            return lobby_expiry_sweep(now=later)
        finally:
            connection.close()

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: sweep(), range(2)))

    assert sorted(len(emitted) for emitted in results) == [0, 1]
    assert Lobby.objects.get(pk=lobby_id).closed_at is not None
