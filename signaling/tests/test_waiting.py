"""Waiting for a seat over the lobby WebSocket: the queue's frames, its order, and waiters that leave."""
from __future__ import annotations

from channels.db import database_sync_to_async

from lobbies import services
from lobbies.events import emit
from lobbies.models import SeatWaiter
from lobbies.seats import seat_sweep
from signaling.tests.test_consumers import assert_error, make_lobby, make_session, open_joined, still_open


async def sweep() -> None:
    """One round of the seat sweep that presence runs every second, with its news sent."""
    await emit(await database_sync_to_async(seat_sweep)())


async def refused(ws, lobby_id: str, name: str, position: int):
    session_id, token = await make_session()
    client = await ws(lobby_id, token, session_id=session_id)
    await client.send({"type": "join", "id": "j", "name": name})
    assert await client.receive() == {"type": "waiting_for_seat", "position": position}
    await assert_error(await client.receive(), "lobby_full", recovery="retry", in_reply_to="j")
    return client


async def until(client, frame_type: str) -> dict:
    while (frame := await client.receive())["type"] != frame_type:
        pass
    return frame


async def test_waiters_are_told_their_place_and_seats_go_in_order(ws):
    lobby_id = await make_lobby(max_participants=2)
    ann, _ = await open_joined(ws, lobby_id, "Ann")
    bob, _ = await open_joined(ws, lobby_id, "Bob")
    cyd = await refused(ws, lobby_id, "Cyd", 1)
    dee = await refused(ws, lobby_id, "Dee", 2)

    await bob.send({"type": "leave"})
    await until(ann, "participant_left")
    await sweep()

    assert await cyd.receive() == {"type": "seat_available"}
    await dee.nothing_more()
    # A newcomer who did not wait is behind both.
    eve = await refused(ws, lobby_id, "Eve", 3)
    joined = await cyd.join("Cyd")
    assert joined["self"]["name"] == "Cyd"
    await sweep()
    assert await dee.receive() == {"type": "waiting_for_seat", "position": 1}
    assert await eve.receive() == {"type": "waiting_for_seat", "position": 2}
    await still_open(dee)


async def test_a_waiter_that_closes_its_socket_leaves_the_queue(ws):
    lobby_id = await make_lobby(max_participants=2)
    await open_joined(ws, lobby_id, "Ann")
    await open_joined(ws, lobby_id, "Bob")
    cyd = await refused(ws, lobby_id, "Cyd", 1)
    dee = await refused(ws, lobby_id, "Dee", 2)

    await cyd.communicator.disconnect(code=1000)
    cyd.disconnected = True
    await sweep()

    assert await dee.receive() == {"type": "waiting_for_seat", "position": 1}
    assert await database_sync_to_async(SeatWaiter.objects.count)() == 1


async def test_waiters_of_a_lobby_that_closes_are_told_and_closed_4004(ws):
    lobby_id = await make_lobby(max_participants=2)
    ann, _ = await open_joined(ws, lobby_id, "Ann")
    await open_joined(ws, lobby_id, "Bob")
    cyd = await refused(ws, lobby_id, "Cyd", 1)

    await until(ann, "add_peer")
    await emit(await database_sync_to_async(services.lobby_close)(lobby_id=lobby_id))

    for client in (ann, cyd):
        await assert_error(await client.receive(), "lobby_not_found")
        await client.expect_closed(4004)


async def test_the_creator_of_a_password_lobby_joins_without_it_and_others_need_it(ws):
    creator_id, creator_token = await make_session()
    lobby = await database_sync_to_async(services.lobby_create)(
        session_id=creator_id, name="Members only", password="sesame"
    )
    creator = await ws(lobby.id, creator_token, session_id=creator_id)
    assert (await creator.join("Ann"))["self"]["name"] == "Ann"

    _, token = await make_session()
    guest = await ws(lobby.id, token)
    await guest.send({"type": "join", "id": "g", "name": "Bob"})
    await assert_error(await guest.receive(), "invalid_lobby_password", in_reply_to="g")
    assert (await guest.join("Bob", password="sesame"))["self"]["name"] == "Bob"
