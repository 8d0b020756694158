"""Waiting for a seat over the lobby WebSocket: the queue's frames, its order, and waiters that leave."""
from __future__ import annotations

import asyncio

from channels.db import database_sync_to_async
from channels.testing import HttpCommunicator

from lobbies import moderation, presence, services
from lobbies.events import emit
from lobbies.models import Lobby, SeatWaiter
from lobbies.presence import presence_stop, presence_tick
from lobbies.seats import seat_sweep
from voicebot_site.asgi import application
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
    await emit(await database_sync_to_async(moderation.lobby_close)(lobby_id=lobby_id))

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


async def test_the_presence_round_tells_the_waiter_and_closes_an_empty_lobby(ws, settings):
    settings.VOICEBOT_EMPTY_LOBBY_CLOSE_AFTER = 0.5
    lobby_id = await make_lobby(max_participants=2)
    empty_id = await make_lobby()
    ann, _ = await open_joined(ws, lobby_id, "Ann")
    bob, _ = await open_joined(ws, lobby_id, "Bob")
    cyd = await refused(ws, lobby_id, "Cyd", 1)
    await bob.send({"type": "leave"})
    await until(ann, "participant_left")
    await asyncio.sleep(0.6)

    await presence_tick()

    assert await cyd.receive() == {"type": "seat_available"}
    closed = await database_sync_to_async(lambda: Lobby.objects.get(pk=empty_id).closed_at)()
    assert closed is not None, "the lobby nobody joined closed"
    assert await database_sync_to_async(lambda: Lobby.objects.get(pk=lobby_id).closed_at)() is None


def presence_running() -> bool:
    task = presence._tasks.get(asyncio.get_running_loop())
    return task is not None and not task.done()


async def test_an_http_request_starts_the_presence_task_of_its_process(settings, transactional_db):
    settings.VOICEBOT_PRESENCE_ENABLED = True
    try:
        communicator = HttpCommunicator(application, "GET", "/livez", headers=[(b"host", b"testserver")])
        assert (await communicator.get_response())["status"] == 200
        assert asyncio.get_running_loop() in presence._tasks and presence_running()
    finally:
        await presence_stop()
    assert not presence_running()
