"""The queue for seats of a full lobby: its order, the sweep's news, and waiters that go away."""
from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.utils import timezone

from lobbies import moderation, services
from lobbies.events import Event
from lobbies.exceptions import LobbyFullError
from lobbies.models import Participant, SeatWaiter, ServerInstance
from lobbies.presence import DEAD_AFTER_INTERVALS, presence_sweep
from lobbies.seats import SEAT_HOLD_SECONDS, seat_sweep, seat_waiter_disconnect

pytestmark = pytest.mark.django_db

NewSession = Callable[..., tuple[str, str]]
NewLobby = Callable[..., str]
Join = Callable[..., Participant]


def refused_position(lobby_id: str, session_id: str, channel: str, instance_id: str = "instance-a") -> int:
    with pytest.raises(LobbyFullError) as refused:
        services.lobby_join(lobby_id=lobby_id, session_id=session_id, name=f"W{channel[-1]}", password=None,
                            channel_name=channel, instance_id=instance_id)
    assert refused.value.position is not None
    return refused.value.position


def sent(emitted: list[Event]) -> list[tuple[str, str | None, dict[str, object]]]:
    return [(event.message["type"], event.channel, {k: v for k, v in event.message.items() if k == "position"})
            for event in emitted]


@pytest.fixture
def full_lobby(new_lobby: NewLobby, new_session: NewSession, join: Join) -> tuple[str, Participant, Participant]:
    lobby_id = new_lobby(max_participants=2)
    ann = join(lobby_id, new_session()[0], "Ann")
    bob = join(lobby_id, new_session()[0], "Bob")
    return lobby_id, ann, bob


def test_refused_joins_queue_in_order_and_a_second_refusal_keeps_the_place(
    full_lobby: tuple[str, Participant, Participant], new_session: NewSession
) -> None:
    lobby_id, _, _ = full_lobby
    cyd, dee = new_session()[0], new_session()[0]

    assert refused_position(lobby_id, cyd, "chan.1") == 1
    assert refused_position(lobby_id, dee, "chan.2") == 2
    assert refused_position(lobby_id, cyd, "chan.3") == 1, "asking again keeps the place, with the new socket"

    queue = list(SeatWaiter.objects.filter(lobby_id=lobby_id).values_list("session_id", "channel_name"))
    assert queue == [(cyd, "chan.3"), (dee, "chan.2")]


def test_a_freed_seat_goes_to_the_first_waiter_not_to_a_newcomer(
    full_lobby: tuple[str, Participant, Participant], new_session: NewSession, join: Join
) -> None:
    lobby_id, _, bob = full_lobby
    cyd, eve = new_session()[0], new_session()[0]
    refused_position(lobby_id, cyd, "chan.1")
    services.participant_leave(session_id=bob.session_id, lobby_id=lobby_id, channel_name=bob.channel_name)

    # Eve did not wait: the one free seat is Cyd's.
    assert refused_position(lobby_id, eve, "chan.2") == 2
    assert sent(seat_sweep()) == [("seat.available", "chan.1", {})]

    seated = join(lobby_id, cyd, "Cyd", channel_name="chan.1b")
    assert seated.session_id == cyd
    assert not SeatWaiter.objects.filter(session_id=cyd).exists(), "a seated session waits no more"
    assert sent(seat_sweep()) == [("seat.position", "chan.2", {"position": 1})]


def test_each_piece_of_news_is_sent_once_however_many_sweeps_run(
    full_lobby: tuple[str, Participant, Participant], new_session: NewSession
) -> None:
    lobby_id, ann, bob = full_lobby
    refused_position(lobby_id, new_session()[0], "chan.1")
    refused_position(lobby_id, new_session()[0], "chan.2")
    refused_position(lobby_id, new_session()[0], "chan.3")
    services.participant_leave(session_id=bob.session_id, lobby_id=lobby_id, channel_name=bob.channel_name)

    first, second = seat_sweep(), seat_sweep()

    # chan.2 and chan.3 were told their places when refused; they did not move.
    assert sent(first) == [("seat.available", "chan.1", {})]
    assert second == []
    services.participant_leave(session_id=ann.session_id, lobby_id=lobby_id, channel_name=ann.channel_name)
    assert sent(seat_sweep()) == [("seat.available", "chan.2", {})]


def test_a_waiter_that_does_not_take_its_seat_in_time_loses_it_to_the_next(
    full_lobby: tuple[str, Participant, Participant], new_session: NewSession
) -> None:
    lobby_id, _, bob = full_lobby
    cyd, dee = new_session()[0], new_session()[0]
    refused_position(lobby_id, cyd, "chan.1")
    refused_position(lobby_id, dee, "chan.2")
    services.participant_leave(session_id=bob.session_id, lobby_id=lobby_id, channel_name=bob.channel_name)
    now = timezone.now()
    seat_sweep(now=now)

    later = seat_sweep(now=now + timedelta(seconds=SEAT_HOLD_SECONDS + 1))

    assert sent(later) == [("seat.available", "chan.2", {})]
    assert list(SeatWaiter.objects.values_list("session_id", flat=True)) == [dee]


def test_a_waiter_that_closed_on_purpose_leaves_the_queue_and_a_dropped_one_keeps_its_place_for_the_grace(
    full_lobby: tuple[str, Participant, Participant], new_session: NewSession, settings: object
) -> None:
    settings.VOICEBOT_RECONNECT_GRACE = 20.0  # type: ignore[attr-defined]
    lobby_id, _, _ = full_lobby
    cyd, dee = new_session()[0], new_session()[0]
    refused_position(lobby_id, cyd, "chan.1")
    refused_position(lobby_id, dee, "chan.2")

    seat_waiter_disconnect(lobby_id=lobby_id, session_id=cyd, channel_name="chan.1", gone=True)
    seat_waiter_disconnect(lobby_id=lobby_id, session_id=dee, channel_name="chan.2", gone=False)

    assert list(SeatWaiter.objects.values_list("session_id", "channel_name")) == [(dee, "")]
    assert seat_sweep() == [], "a waiter without a socket is told nothing"
    assert refused_position(lobby_id, dee, "chan.3") == 1, "back within the grace period, still first"
    seat_waiter_disconnect(lobby_id=lobby_id, session_id=dee, channel_name="chan.3", gone=False)
    seat_sweep(now=timezone.now() + timedelta(seconds=21))
    assert not SeatWaiter.objects.exists()


def test_a_socket_that_is_not_the_waiters_own_changes_nothing(
    full_lobby: tuple[str, Participant, Participant], new_session: NewSession
) -> None:
    lobby_id, _, _ = full_lobby
    cyd = new_session()[0]
    refused_position(lobby_id, cyd, "chan.new")

    seat_waiter_disconnect(lobby_id=lobby_id, session_id=cyd, channel_name="chan.old", gone=True)

    assert SeatWaiter.objects.get().channel_name == "chan.new"


def test_waiters_of_a_dead_server_process_keep_their_places_for_the_grace_period(
    full_lobby: tuple[str, Participant, Participant], new_session: NewSession, settings: object
) -> None:
    settings.VOICEBOT_HEARTBEAT_INTERVAL = 5.0  # type: ignore[attr-defined]
    lobby_id, _, _ = full_lobby
    last_beat = timezone.now() - timedelta(seconds=5.0 * DEAD_AFTER_INTERVALS + 1)
    ServerInstance.objects.create(id="dead", host="h", pid=1, started_at=last_beat, last_heartbeat=last_beat)
    refused_position(lobby_id, new_session()[0], "chan.1", instance_id="dead")

    presence_sweep(instance_id="me")

    waiter = SeatWaiter.objects.get()
    assert (waiter.channel_name, waiter.instance_id, waiter.disconnected_at) == ("", "", last_beat)


def test_closing_a_lobby_tells_its_waiters_and_empties_its_queue(
    full_lobby: tuple[str, Participant, Participant], new_session: NewSession
) -> None:
    lobby_id, _, _ = full_lobby
    refused_position(lobby_id, new_session()[0], "chan.1")

    emitted = moderation.lobby_close(lobby_id=lobby_id)

    assert sent(emitted) == [("lobby.closed", None, {}), ("lobby.closed", "chan.1", {})]
    assert not SeatWaiter.objects.exists()


def test_a_refused_join_keeps_the_place_the_session_holds_in_another_lobby(
    full_lobby: tuple[str, Participant, Participant], new_lobby: NewLobby, new_session: NewSession, join: Join
) -> None:
    lobby_id, _, _ = full_lobby
    elsewhere = new_lobby()
    cyd = join(elsewhere, new_session()[0], "Cyd")

    refused_position(lobby_id, cyd.session_id, "chan.1")

    assert Participant.objects.get(session_id=cyd.session_id).lobby_id == elsewhere
