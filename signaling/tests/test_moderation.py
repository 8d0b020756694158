"""The lobby's creator moderates from the socket: kick (and the bar after it), lock, close."""
from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from audit.testing import audit_events
from lobbies import services
from signaling.tests.test_consumers import assert_error, make_lobby, make_session

pytestmark = pytest.mark.django_db(transaction=True)


@database_sync_to_async
def lobby_of(creator_id: str, **fields) -> str:
    return services.lobby_create(session_id=creator_id, name="Mine", **fields).id


async def creator_and_guest(ws):
    creator_id, creator_token = await make_session()
    lobby_id = await lobby_of(creator_id)
    owner = await ws(lobby_id, creator_token, session_id=creator_id)
    joined = await owner.join("Ann")
    assert joined["can_moderate"] is True and joined["lobby"]["locked"] is False
    guest_id, guest_token = await make_session()
    guest = await ws(lobby_id, guest_token, session_id=guest_id)
    guest_joined = await guest.join("Bob")
    assert guest_joined["can_moderate"] is False
    await guest.receive_type("add_peer")
    await owner.receive_type("participant_joined")
    await owner.receive_type("add_peer")
    return lobby_id, owner, guest


async def test_the_creator_kicks_a_guest_who_cannot_come_back_for_a_while(ws, settings):
    settings.VOICEBOT_KICK_BAN = 300
    lobby_id, owner, guest = await creator_and_guest(ws)
    await owner.send({"type": "kick", "peer_id": guest.session_id, "id": "k"})
    await assert_error(await guest.receive(), "kicked", recovery="none")
    await guest.expect_closed(4003)
    await owner.receive_type("remove_peer")
    left = await owner.receive_type("participant_left")
    assert (left["session_id"], left["reason"]) == (guest.session_id, "kicked")
    # The kicked guest opens a new socket and tries again.
    again = await ws(lobby_id, guest.token, session_id=guest.session_id)
    await again.send({"type": "join", "name": "Bob", "id": "back"})
    refused = await again.receive()
    await assert_error(refused, "kicked", recovery="retry", in_reply_to="back")
    assert 290 <= refused["retry_after"] <= 300
    await again.expect_closed(4003)
    [kick] = await audit_events(kind="participant_kicked")
    assert kick.session_id == owner.session_id and kick.lobby_id == lobby_id
    [rejoin] = await audit_events(kind="kicked_rejoin_refused")
    assert rejoin.session_id == guest.session_id and rejoin.correlation_id == refused["correlation_id"]


async def test_a_guest_cannot_moderate(ws):
    lobby_id, owner, guest = await creator_and_guest(ws)
    for frame in ({"type": "kick", "peer_id": owner.session_id}, {"type": "lock_lobby", "locked": True},
                  {"type": "close_lobby"}):
        await guest.send({**frame, "id": frame["type"]})
        await assert_error(await guest.receive(), "forbidden", recovery="none", in_reply_to=frame["type"])
    await owner.nothing_more()


async def test_moderation_frames_need_join_first(ws):
    creator_id, token = await make_session()
    lobby_id = await lobby_of(creator_id)
    owner = await ws(lobby_id, token, session_id=creator_id)
    await owner.send({"type": "close_lobby"})
    await assert_error(await owner.receive(), "not_joined")


async def test_a_locked_lobby_tells_everyone_and_refuses_newcomers(ws):
    lobby_id, owner, guest = await creator_and_guest(ws)
    await owner.send({"type": "lock_lobby", "locked": True})
    for client in (owner, guest):
        updated = await client.receive_type("lobby_updated")
        assert updated["lobby"]["locked"] is True and updated["lobby"]["participant_count"] == 2
    _, token = await make_session()
    newcomer = await ws(lobby_id, token)
    await newcomer.send({"type": "join", "name": "Cyd", "id": "j"})
    await assert_error(await newcomer.receive(), "lobby_locked", recovery="none", in_reply_to="j")
    await owner.send({"type": "lock_lobby", "locked": "yes"})
    await assert_error(await owner.receive(), "invalid_message")


async def test_the_creator_closes_the_lobby_for_everyone(ws):
    lobby_id, owner, guest = await creator_and_guest(ws)
    await owner.send({"type": "close_lobby"})
    for client in (owner, guest):
        await assert_error(await client.receive(), "lobby_not_found")
        await client.expect_closed(4004)
    [closed] = await audit_events(kind="lobby_closed")
    assert closed.session_id == owner.session_id
