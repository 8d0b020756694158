"""Heartbeats and the grace-period sweep: presence that survives a server process."""
from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from lobbies import services
from lobbies.events import Event
from lobbies.models import Participant, ServerInstance
from lobbies.presence import DEAD_AFTER_INTERVALS, instance_heartbeat, presence_sweep

NewSession = Callable[..., tuple[str, str]]
NewLobby = Callable[..., str]
Join = Callable[..., Participant]

ME = "instance-me"
GRACE = 20.0
INTERVAL = 5.0


@pytest.fixture(autouse=True)
def presence_settings(settings: object) -> None:
    settings.VOICEBOT_RECONNECT_GRACE = GRACE  # type: ignore[attr-defined]
    settings.VOICEBOT_HEARTBEAT_INTERVAL = INTERVAL  # type: ignore[attr-defined]


def instance(instance_id: str, last_heartbeat: datetime) -> ServerInstance:
    return ServerInstance.objects.create(id=instance_id, host="host", pid=1, started_at=last_heartbeat,
                                         last_heartbeat=last_heartbeat)


def of_type(emitted: list[Event], message_type: str) -> list[Event]:
    return [event for event in emitted if event.message["type"] == message_type]


# --- Heartbeats -------------------------------------------------------------------


@pytest.mark.django_db
def test_first_heartbeat_creates_the_instance_row() -> None:
    now = timezone.now()

    instance_heartbeat(instance_id=ME, now=now)

    row = ServerInstance.objects.get(pk=ME)
    assert row.started_at == now and row.last_heartbeat == now and row.pid > 0 and row.host


@pytest.mark.django_db
def test_later_heartbeats_move_only_the_last_heartbeat() -> None:
    start = timezone.now()
    instance_heartbeat(instance_id=ME, now=start)

    instance_heartbeat(instance_id=ME, now=start + timedelta(seconds=5))

    row = ServerInstance.objects.get(pk=ME)
    assert row.started_at == start and row.last_heartbeat == start + timedelta(seconds=5)
    assert ServerInstance.objects.count() == 1


@pytest.mark.django_db(transaction=True)
async def test_the_heartbeat_is_written_while_the_database_thread_is_held() -> None:
    """A queue of joins on the database thread must not make this process look dead to the others."""
    import asyncio

    from lobbies.presence import INSTANCE_ID, run_heartbeat
    from resilience.database import db_call, db_call_apart

    release = threading.Event()

    def hold() -> None:
        release.wait(10)

    def beats() -> int:
        return ServerInstance.objects.filter(pk=INSTANCE_ID).count()

    held = asyncio.ensure_future(db_call(hold)())
    heartbeat = asyncio.ensure_future(run_heartbeat())
    try:
        for _ in range(200):
            if await db_call_apart(beats)():
                break
            await asyncio.sleep(0.01)
        assert await db_call_apart(beats)() == 1, "no heartbeat while the database thread was held"
        assert not held.done()
    finally:
        release.set()
        heartbeat.cancel()
        await held
    # The database thread sees it too, once free.
    assert await db_call(beats)() == 1


# --- Dead server processes --------------------------------------------------------------


@pytest.mark.django_db
def test_participants_of_a_dead_instance_become_reconnecting_from_its_last_heartbeat(
    new_lobby: NewLobby, new_session: NewSession, join: Join
) -> None:
    now = timezone.now()
    last_beat = now - timedelta(seconds=INTERVAL * DEAD_AFTER_INTERVALS + 1)
    instance("dead", last_beat)
    lobby_id = new_lobby()
    ann = join(lobby_id, new_session()[0], "Ann", channel_name="chan.ann", instance_id="dead")
    bob = join(lobby_id, new_session()[0], "Bob", channel_name="chan.bob", instance_id="dead")

    emitted = presence_sweep(instance_id=ME, now=now)

    for participant in (ann, bob):
        stored = Participant.objects.get(pk=participant.pk)
        assert (stored.status, stored.channel_name, stored.instance_id) == ("reconnecting", "", "")
        assert stored.disconnected_at == last_beat
    updates = of_type(emitted, "lobby.participant_updated")
    assert [(e.group, e.discard) for e in updates] == [
        (f"lobby.{lobby_id}", ("chan.ann",)), (f"lobby.{lobby_id}", ("chan.bob",))
    ]
    assert all(e.message["participant"]["status"] == "reconnecting" for e in updates)
    assert of_type(emitted, "lobby.participant_left") == []
    assert not ServerInstance.objects.filter(pk="dead").exists()


@pytest.mark.django_db
def test_live_instances_and_their_participants_are_untouched(
    new_lobby: NewLobby, new_session: NewSession, join: Join
) -> None:
    now = timezone.now()
    instance("alive", now - timedelta(seconds=INTERVAL * DEAD_AFTER_INTERVALS - 1))
    instance(ME, now - timedelta(hours=1))
    lobby_id = new_lobby()
    alive = join(lobby_id, new_session()[0], "Ann", instance_id="alive")
    mine = join(lobby_id, new_session()[0], "Bob", instance_id=ME)

    assert presence_sweep(instance_id=ME, now=now) == []

    assert set(ServerInstance.objects.values_list("pk", flat=True)) == {"alive", ME}
    for participant in (alive, mine):
        stored = Participant.objects.get(pk=participant.pk)
        assert (stored.status, stored.channel_name, stored.disconnected_at) == (
            "connected", participant.channel_name, None
        )


@pytest.mark.django_db
def test_orphans_time_out_once_their_grace_period_from_the_last_heartbeat_ran_out(
    new_lobby: NewLobby, new_session: NewSession, join: Join
) -> None:
    now = timezone.now()
    last_beat = now - timedelta(seconds=11)
    instance("dead", last_beat)
    lobby_id = new_lobby()
    ann = join(lobby_id, new_session()[0], "Ann", instance_id="dead")
    presence_sweep(instance_id=ME, now=now)

    assert presence_sweep(instance_id=ME, now=last_beat + timedelta(seconds=GRACE - 1)) == []
    emitted = presence_sweep(instance_id=ME, now=last_beat + timedelta(seconds=GRACE + 1))

    assert not Participant.objects.filter(pk=ann.pk).exists()
    [left] = emitted
    assert left.message == {"type": "lobby.participant_left", "lobby_id": lobby_id,
                            "session_id": ann.session_id, "reason": "timeout", "epoch": ann.epoch}


@pytest.mark.django_db
def test_a_dead_instance_silent_for_longer_than_the_grace_period_times_out_its_participants_at_once(
    new_lobby: NewLobby, new_session: NewSession, join: Join
) -> None:
    now = timezone.now()
    instance("dead", now - timedelta(seconds=GRACE + 5))
    lobby_id = new_lobby()
    ann = join(lobby_id, new_session()[0], "Ann", instance_id="dead")

    emitted = presence_sweep(instance_id=ME, now=now)

    assert [e.message["type"] for e in emitted] == ["lobby.participant_updated", "lobby.participant_left"]
    assert emitted[1].message["reason"] == "timeout"
    assert not Participant.objects.filter(pk=ann.pk).exists()


# --- The grace period ---------------------------------------------------------------------


@pytest.mark.django_db
def test_reconnecting_participants_time_out_after_the_grace_period(
    new_lobby: NewLobby, new_session: NewSession, join: Join
) -> None:
    lobby_id = new_lobby()
    ann = join(lobby_id, new_session()[0], "Ann", channel_name="chan.ann")
    bob = join(lobby_id, new_session()[0], "Bob")
    services.participant_disconnect(session_id=ann.session_id, lobby_id=lobby_id, channel_name="chan.ann")
    dropped_at = Participant.objects.get(pk=ann.pk).disconnected_at

    assert presence_sweep(instance_id=ME, now=dropped_at + timedelta(seconds=GRACE - 1)) == []
    assert Participant.objects.get(pk=ann.pk).status == "reconnecting"
    [left] = presence_sweep(instance_id=ME, now=dropped_at + timedelta(seconds=GRACE + 1))

    assert left.group == f"lobby.{lobby_id}" and left.message["reason"] == "timeout"
    assert left.message["session_id"] == ann.session_id
    assert list(Participant.objects.values_list("pk", flat=True)) == [bob.pk]


@pytest.mark.django_db
def test_a_participant_that_resumed_does_not_time_out(
    new_lobby: NewLobby, new_session: NewSession, join: Join
) -> None:
    lobby_id = new_lobby()
    ann = join(lobby_id, new_session()[0], "Ann", channel_name="chan.1")
    services.participant_disconnect(session_id=ann.session_id, lobby_id=lobby_id, channel_name="chan.1")
    join(lobby_id, ann.session_id, None, channel_name="chan.2")

    assert presence_sweep(instance_id=ME, now=timezone.now() + timedelta(seconds=GRACE * 10)) == []

    assert Participant.objects.get(pk=ann.pk).status == "connected"


@pytest.mark.django_db
def test_a_second_sweep_does_not_announce_a_timeout_again(
    new_lobby: NewLobby, new_session: NewSession, join: Join
) -> None:
    lobby_id = new_lobby()
    ann = join(lobby_id, new_session()[0], "Ann", channel_name="chan.1")
    services.participant_disconnect(session_id=ann.session_id, lobby_id=lobby_id, channel_name="chan.1")
    later = timezone.now() + timedelta(seconds=GRACE + 1)

    first = presence_sweep(instance_id=ME, now=later)
    second = presence_sweep(instance_id="instance-other", now=later)

    assert len(first) == 1 and second == []


def _sweep_in_thread(barrier: threading.Barrier, instance_id: str, now: datetime) -> list[Event]:
    try:
        barrier.wait(timeout=10)
        return presence_sweep(instance_id=instance_id, now=now)
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_sweeps_announce_each_departure_once(
    new_lobby: NewLobby, new_session: NewSession, join: Join
) -> None:
    now = timezone.now()
    lobby_id = new_lobby()
    instance("dead", now - timedelta(seconds=INTERVAL * DEAD_AFTER_INTERVALS + 1))
    orphan = join(lobby_id, new_session()[0], "Orphan", instance_id="dead")
    expired = []
    for n in range(5):
        participant = join(lobby_id, new_session()[0], f"Gone {n}", channel_name=f"chan.{n}")
        services.participant_disconnect(session_id=participant.session_id, lobby_id=lobby_id,
                                        channel_name=f"chan.{n}")
        expired.append(participant.session_id)
    Participant.objects.filter(session_id__in=expired).update(disconnected_at=now - timedelta(seconds=GRACE + 1))
    barrier = threading.Barrier(2)

    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = [pool.submit(_sweep_in_thread, barrier, name, now) for name in ("sweeper-1", "sweeper-2")]
        emitted = [event for run in runs for event in run.result(timeout=60)]

    timeouts = sorted(e.message["session_id"] for e in of_type(emitted, "lobby.participant_left"))
    assert timeouts == sorted(expired)
    assert [e.message["participant"]["session_id"] for e in of_type(emitted, "lobby.participant_updated")] == [
        orphan.session_id
    ]
    assert list(Participant.objects.values_list("session_id", "status")) == [(orphan.session_id, "reconnecting")]


@pytest.mark.django_db
def test_the_grace_period_comes_from_settings(new_lobby: NewLobby, new_session: NewSession, join: Join) -> None:
    lobby_id = new_lobby()
    ann = join(lobby_id, new_session()[0], "Ann", channel_name="chan.1")
    services.participant_disconnect(session_id=ann.session_id, lobby_id=lobby_id, channel_name="chan.1")
    dropped_at = Participant.objects.get(pk=ann.pk).disconnected_at

    with override_settings(VOICEBOT_RECONNECT_GRACE=60):
        assert presence_sweep(instance_id=ME, now=dropped_at + timedelta(seconds=GRACE + 1)) == []
        assert len(presence_sweep(instance_id=ME, now=dropped_at + timedelta(seconds=61))) == 1
    assert settings.VOICEBOT_RECONNECT_GRACE == GRACE
