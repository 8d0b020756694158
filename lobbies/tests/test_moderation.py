"""Moderation: kicks that bar the kicked for a while, locked lobbies, the creator's powers, the audit of each."""
from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.utils import timezone

from audit.actors import Actor
from audit.testing import audit_events_sync
from errors.exceptions import ForbiddenError, InvalidMessageError
from lobbies import moderation, services
from lobbies.exceptions import KickedRejoinError, LobbyLockedError
from lobbies.models import Lobby, LobbyBan, Participant
from signaling.exceptions import PeerNotFoundError

pytestmark = pytest.mark.django_db(transaction=True)

NewSession = Callable[..., tuple[str, str]]
NewLobby = Callable[..., str]
Join = Callable[..., Participant]


# --- Staff actions --------------------------------------------------------------------


def test_kick_closes_the_socket_and_tells_the_lobby(new_lobby: NewLobby, new_session: NewSession, join: Join) -> None:
    lobby_id = new_lobby()
    ann = join(lobby_id, new_session()[0], "Ann", channel_name="chan.ann")

    kicked, left = moderation.participant_kick(participant_id=ann.pk)

    assert not Participant.objects.filter(pk=ann.pk).exists()
    assert kicked.channel == "chan.ann" and kicked.group is None
    assert kicked.message == {"type": "participant.kicked", "lobby_id": lobby_id}
    assert left.group == f"lobby.{lobby_id}" and left.discard == ("chan.ann",)
    assert left.message == {"type": "lobby.participant_left", "lobby_id": lobby_id,
                            "session_id": ann.session_id, "reason": "kicked", "epoch": ann.epoch}


def test_kick_of_a_reconnecting_participant_only_tells_the_lobby(
    new_lobby: NewLobby, new_session: NewSession, join: Join
) -> None:
    lobby_id = new_lobby()
    ann = join(lobby_id, new_session()[0], "Ann", channel_name="chan.ann")
    services.participant_disconnect(session_id=ann.session_id, lobby_id=lobby_id, channel_name="chan.ann")

    [left] = moderation.participant_kick(participant_id=ann.pk)

    assert left.message["reason"] == "kicked" and left.discard == ()


def test_kick_of_a_participant_that_is_gone_does_nothing() -> None:
    assert moderation.participant_kick(participant_id=987654) == []


def test_close_unlists_the_lobby_and_removes_everyone(
    new_lobby: NewLobby, new_session: NewSession, join: Join
) -> None:
    lobby_id = new_lobby()
    join(lobby_id, new_session()[0], "Ann")
    join(lobby_id, new_session()[0], "Bob")

    [event] = moderation.lobby_close(lobby_id=lobby_id)

    assert Lobby.objects.get(pk=lobby_id).closed_at is not None
    assert Participant.objects.filter(lobby_id=lobby_id).count() == 0
    assert event.group == f"lobby.{lobby_id}"
    assert event.message == {"type": "lobby.closed", "lobby_id": lobby_id}


def test_closing_a_closed_lobby_does_nothing(new_lobby: NewLobby) -> None:
    lobby_id = new_lobby()
    moderation.lobby_close(lobby_id=lobby_id)
    closed_at = Lobby.objects.get(pk=lobby_id).closed_at

    assert moderation.lobby_close(lobby_id=lobby_id) == []
    assert Lobby.objects.get(pk=lobby_id).closed_at == closed_at


# --- Barred after a kick ----------------------------------------------------------------


def test_a_kicked_session_and_its_address_are_barred_from_the_lobby_for_a_while(
    new_lobby: NewLobby, new_session: NewSession, join: Join, settings
) -> None:
    settings.VOICEBOT_KICK_BAN = 600
    lobby_id, other_lobby = new_lobby(), new_lobby()
    ann_id = new_session()[0]
    ann = services.lobby_join(lobby_id=lobby_id, session_id=ann_id, name="Ann", password=None, channel_name="c.a",
                              instance_id="i", address="203.0.113.9")
    moderation.participant_kick(participant_id=ann.participant.pk, by=Actor(session_id="f" * 32))

    with pytest.raises(KickedRejoinError) as barred:
        join(lobby_id, ann_id, "Ann")
    assert 590 <= barred.value.retry_after <= 600 and barred.value.close_code == 4003
    # A new session from the same address is barred too; another address is not.
    with pytest.raises(KickedRejoinError):
        services.lobby_join(lobby_id=lobby_id, session_id=new_session()[0], name="Ann2", password=None,
                            channel_name="c.b", instance_id="i", address="203.0.113.9")
    services.lobby_join(lobby_id=lobby_id, session_id=new_session()[0], name="Cyd", password=None,
                        channel_name="c.c", instance_id="i", address="198.51.100.1")
    # Other lobbies are not concerned.
    assert join(other_lobby, ann_id, "Ann").lobby_id == other_lobby
    [ban] = LobbyBan.objects.all()
    assert (ban.session_id, ban.address, ban.by) == (ann_id, "203.0.113.9", "session ffffffff")


def test_the_bar_ends_after_its_time(new_lobby: NewLobby, new_session: NewSession, join: Join) -> None:
    lobby_id = new_lobby()
    ann = join(lobby_id, new_session()[0], "Ann")
    moderation.participant_kick(participant_id=ann.pk)
    LobbyBan.objects.update(until=timezone.now() - timedelta(seconds=1))

    assert join(lobby_id, ann.session_id, "Ann").lobby_id == lobby_id


def test_no_bar_when_the_setting_is_zero(new_lobby: NewLobby, new_session: NewSession, join: Join, settings) -> None:
    settings.VOICEBOT_KICK_BAN = 0
    lobby_id = new_lobby()
    ann = join(lobby_id, new_session()[0], "Ann")
    moderation.participant_kick(participant_id=ann.pk)

    assert join(lobby_id, ann.session_id, "Ann").lobby_id == lobby_id
    assert LobbyBan.objects.count() == 0


# --- The creator's powers ---------------------------------------------------------------


def creator_and_lobby(new_session: NewSession, **fields) -> tuple[str, str]:
    creator = new_session()[0]
    lobby = services.lobby_create(session_id=creator, name="Mine", **fields)
    return creator, lobby.id


def test_only_the_creator_kicks_locks_and_closes(new_session: NewSession, join: Join) -> None:
    creator, lobby_id = creator_and_lobby(new_session)
    bob = join(lobby_id, new_session()[0], "Bob")
    cyd = join(lobby_id, new_session()[0], "Cyd")
    someone = Actor(session_id=bob.session_id)

    with pytest.raises(ForbiddenError):
        moderation.lobby_member_kick(lobby_id=lobby_id, session_id=bob.session_id, peer_id=cyd.session_id, by=someone)
    with pytest.raises(ForbiddenError):
        moderation.lobby_set_locked(lobby_id=lobby_id, session_id=bob.session_id, locked=True, by=someone)
    with pytest.raises(ForbiddenError):
        moderation.lobby_close(lobby_id=lobby_id, session_id=bob.session_id, by=someone)
    assert Participant.objects.count() == 2 and not Lobby.objects.get(pk=lobby_id).locked
    assert Lobby.objects.get(pk=lobby_id).closed_at is None


def test_the_creator_kicks_a_participant_of_their_lobby(new_session: NewSession, join: Join) -> None:
    creator, lobby_id = creator_and_lobby(new_session)
    join(lobby_id, creator, "Ann")
    bob = join(lobby_id, new_session()[0], "Bob", channel_name="chan.bob")
    by = Actor(session_id=creator, address="192.0.2.4")

    kicked, left = moderation.lobby_member_kick(lobby_id=lobby_id, session_id=creator, peer_id=bob.session_id, by=by)

    assert kicked.channel == "chan.bob" and left.message["reason"] == "kicked"
    [event] = audit_events_sync(kind="participant_kicked")
    assert (event.actor, event.session_id, event.address, event.lobby_id) == (
        f"session {creator[:8]}", creator, "192.0.2.4", lobby_id)
    assert "Bob" in event.target


@pytest.mark.parametrize("peer_id", [None, 7, "self", "0" * 32])
def test_a_kick_of_nobody_in_the_lobby_is_refused(new_session: NewSession, join: Join, peer_id) -> None:
    creator, lobby_id = creator_and_lobby(new_session)
    join(lobby_id, creator, "Ann")
    expected = PeerNotFoundError if peer_id == "0" * 32 else InvalidMessageError

    with pytest.raises(expected):
        moderation.lobby_member_kick(lobby_id=lobby_id, session_id=creator,
                                     peer_id=creator if peer_id == "self" else peer_id, by=Actor(session_id=creator))


def test_a_locked_lobby_lets_no_one_new_in_but_lets_its_own_resume(new_session: NewSession, join: Join) -> None:
    creator, lobby_id = creator_and_lobby(new_session)
    ann = join(lobby_id, creator, "Ann", channel_name="chan.ann")

    [updated] = moderation.lobby_set_locked(lobby_id=lobby_id, session_id=creator, locked=True,
                                            by=Actor(session_id=creator))

    assert updated.message["type"] == "lobby.updated" and updated.message["lobby"]["locked"] is True
    with pytest.raises(LobbyLockedError):
        join(lobby_id, new_session()[0], "Bob")
    services.participant_disconnect(session_id=creator, lobby_id=lobby_id, channel_name="chan.ann")
    assert join(lobby_id, creator, "ignored").pk == ann.pk  # a resume
    assert moderation.lobby_set_locked(lobby_id=lobby_id, session_id=creator, locked=True,
                                       by=Actor(session_id=creator)) == []
    with pytest.raises(InvalidMessageError):
        moderation.lobby_set_locked(lobby_id=lobby_id, session_id=creator, locked="yes", by=Actor(session_id=creator))
    moderation.lobby_set_locked(lobby_id=lobby_id, session_id=creator, locked=False, by=Actor(session_id=creator))
    assert join(lobby_id, new_session()[0], "Bob").lobby_id == lobby_id
    assert [e.details["locked"] for e in audit_events_sync(kind="lobby_locked")] == [True, False]


def test_the_creator_closes_their_lobby_and_the_audit_says_who(new_session: NewSession) -> None:
    creator, lobby_id = creator_and_lobby(new_session)

    [closed] = moderation.lobby_close(lobby_id=lobby_id, session_id=creator, by=Actor(session_id=creator))

    assert closed.message == {"type": "lobby.closed", "lobby_id": lobby_id}
    [event] = audit_events_sync(kind="lobby_closed")
    assert event.session_id == creator and event.lobby_id == lobby_id


def test_a_rolled_back_kick_is_not_audited(new_lobby: NewLobby, new_session: NewSession, join: Join) -> None:
    from django.db import transaction

    lobby_id = new_lobby()
    ann = join(lobby_id, new_session()[0], "Ann")
    with pytest.raises(RuntimeError), transaction.atomic():
        moderation.participant_kick(participant_id=ann.pk)
        raise RuntimeError("rolled back")

    assert Participant.objects.filter(pk=ann.pk).exists()
    assert audit_events_sync(kind="participant_kicked") == []
