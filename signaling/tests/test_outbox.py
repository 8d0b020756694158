"""What waits to be sent to a socket: bounded, and a socket that is gone always leaves its lobby."""
from __future__ import annotations

import asyncio
from typing import Any

import pytest
from channels.db import database_sync_to_async

from errors.testing import stored_events
from lobbies import services
from lobbies.models import Participant
from ops.metrics import WEBSOCKETS_OPEN
from signaling.outbox import Outbox
from signaling.tests.raw_socket import RawSocket
from signaling.tests.test_consumers import CANDIDATE, make_lobby, make_session, open_joined

pytestmark = pytest.mark.django_db(transaction=True)


def open_sockets() -> float:
    return WEBSOCKETS_OPEN._value.get()


async def raw_joined(lobby_id: str, name: str) -> tuple[RawSocket, str]:
    session_id, token = await make_session()
    socket = RawSocket(f"/ws/lobby/{lobby_id}/?token={token}")
    await socket.start()
    await socket.send_json({"type": "join", "name": name})
    assert (await socket.receive_json())["type"] == "joined"
    return socket, session_id


@database_sync_to_async
def participant_status(session_id: str) -> str | None:
    participant = Participant.objects.filter(session_id=session_id).first()
    return None if participant is None else participant.status


async def test_lobby_event_sent_to_a_closing_socket_still_runs_its_disconnect(ws):
    before = open_sockets()
    lobby_id = await make_lobby()
    a, _ = await open_joined(ws, lobby_id, "Ann")
    b, b_id = await raw_joined(lobby_id, "Bob")
    await a.receive_type("participant_joined")
    await a.receive_type("add_peer")
    await b.receive_json()  # add_peer
    # Bob's connection is lost; before the server hands over his disconnect,
    # a lobby event is sent to him and the server's send raises.
    b.lose()
    await a.send({"type": "set_muted", "muted": True})
    assert (await a.receive_type("participant_updated"))["participant"]["muted"] is True
    await asyncio.sleep(0.1)
    b.disconnect()
    await b.finished()
    updated = (await a.receive_type("participant_updated"))["participant"]
    assert (updated["session_id"], updated["status"]) == (b_id, "reconnecting")
    assert await participant_status(b_id) == "reconnecting"
    await a.close()
    assert open_sockets() == before
    # Nothing went wrong on the server's side: no internal_error was stored.
    assert await stored_events(group__code="internal_error") == []


async def test_socket_that_fails_with_no_disconnect_still_gives_up_its_place(ws):
    before = open_sockets()
    lobby_id = await make_lobby()
    a, _ = await open_joined(ws, lobby_id, "Ann")
    b, b_id = await raw_joined(lobby_id, "Bob")
    await a.receive_type("participant_joined")
    await a.receive_type("add_peer")
    # The server cancels the application without a disconnect message (shutdown).
    b.task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await b.task
    updated = (await a.receive_type("participant_updated"))["participant"]
    assert (updated["session_id"], updated["status"]) == (b_id, "reconnecting")
    await a.close()
    assert open_sockets() == before


async def test_socket_that_never_reads_is_closed_and_its_senders_are_not_punished(ws, settings):
    settings.VOICEBOT_SEND_QUEUE_FRAMES = 40
    # The inbox alone would refuse the sender long before 200 relays.
    settings.VOICEBOT_CHANNEL_CAPACITY = 100
    before = open_sockets()
    lobby_id = await make_lobby()
    a, _ = await open_joined(ws, lobby_id, "Ann")
    b, b_id = await raw_joined(lobby_id, "Bob")
    await a.receive_type("participant_joined")
    await a.receive_type("add_peer")
    b.stall()
    sent = 0
    while sent < 200 and a.communicator.output_queue.empty():
        for _ in range(10):
            await a.send({"type": "relay_ice_candidate", "peer_id": b_id, "candidate": CANDIDATE})
        sent += 10
        await asyncio.sleep(0.01)
    # Bob leaves the lobby as a dropped socket does; Ann was told no error
    # (relays she sent after he left are peer_not_found, as for any dropped peer).
    frame = await a.receive(timeout=10)
    assert frame["type"] == "participant_updated", frame
    assert (frame["participant"]["session_id"], frame["participant"]["status"]) == (b_id, "reconnecting")
    assert sent > settings.VOICEBOT_SEND_QUEUE_FRAMES
    await b.finished()
    later = []
    while not a.communicator.output_queue.empty():
        later.append(await a.receive())
    assert {f.get("code") for f in later} <= {"peer_not_found"}, later
    [event] = await stored_events(group__code="policy_violation")
    assert event.session_id == b_id and event.where == "websocket.send_queue"
    assert await stored_events(group__code="service_unavailable") == []
    await a.close()
    assert open_sockets() == before


async def test_socket_past_its_byte_bound_that_reads_again_gets_the_error_and_4008(ws, settings):
    settings.VOICEBOT_SEND_QUEUE_BYTES = 64 * 1024
    lobby_id = await make_lobby()
    a, _ = await open_joined(ws, lobby_id, "Ann")
    b, b_id = await raw_joined(lobby_id, "Bob")
    await a.receive_type("participant_joined")
    await a.receive_type("add_peer")
    b.stall()
    offer = {"type": "offer", "sdp": "v=0\r\n" + "a=x\r\n" * 6000}  # about 30 KB
    for _ in range(4):
        await a.send({"type": "relay_session_description", "peer_id": b_id, "description": offer})
    await asyncio.sleep(0.3)
    b.writable.set()  # Bob reads again, within the close's grace
    frames = []
    while True:
        message = await b.next_message()
        if message["type"] == "websocket.close":
            break
        frames.append(message)
    assert message["code"] == 4008
    import json
    error = json.loads(frames[-1]["text"])
    assert (error["type"], error["code"], error["recovery"]) == ("error", "policy_violation", "reconnect")
    assert "stopped reading" in error["message"]
    await b.finished()
    assert (await a.receive_type("participant_updated"))["participant"]["status"] == "reconnecting"


async def test_outbox_sends_in_order_and_reports_overflow_in_frames_and_bytes():
    sent: list[dict[str, Any]] = []
    gate = asyncio.Event()

    async def send(message: dict[str, Any]) -> None:
        await gate.wait()
        sent.append(message)

    outbox = Outbox(send, max_frames=3, max_bytes=100)
    for i in range(3):
        await outbox.put({"type": "websocket.send", "text": str(i)})
    assert not outbox.overflowed
    gate.set()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert [m["text"] for m in sent] == ["0", "1", "2"]
    gate.clear()
    await outbox.put({"type": "websocket.send", "text": "x" * 101})
    assert outbox.overflowed and outbox.waiting == (0, 0)
    await outbox.aclose()


async def test_outbox_of_a_gone_client_drops_quietly():
    async def send(message: dict[str, Any]) -> None:
        raise ConnectionResetError()

    outbox = Outbox(send, max_frames=10, max_bytes=1000)
    await outbox.put({"type": "websocket.send", "text": "a"})
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert outbox.gone
    await outbox.put({"type": "websocket.send", "text": "b"})
    assert outbox.waiting == (0, 0)
    await outbox.aclose()


async def test_outbox_sends_in_the_callers_call_when_the_server_does_not_wait():
    sent: list[str] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message["text"])

    outbox = Outbox(send, max_frames=3, max_bytes=100)
    outbox.put_nowait({"type": "websocket.send", "text": "a"})
    # No task, no turn of the event loop: already with the server.
    assert sent == ["a"] and outbox.waiting == (0, 0)
    await outbox.aclose()


async def test_outbox_send_that_must_wait_is_finished_by_a_task_and_what_queued_behind_follows_in_order():
    sent: list[str] = []
    gate = asyncio.Event()

    async def send(message: dict[str, Any]) -> None:
        await gate.wait()
        sent.append(message["text"])

    outbox = Outbox(send, max_frames=10, max_bytes=1000)
    assert outbox._queue is None  # noqa: SLF001 - an idle socket holds no queue (600 bytes)
    for text in "abc":
        outbox.put_nowait({"type": "websocket.send", "text": text})
    # "a" is with the server, waiting; "b" and "c" wait in the outbox.
    assert sent == [] and outbox.waiting == (2, 2)
    gate.set()
    for _ in range(5):
        await asyncio.sleep(0)
    assert sent == ["a", "b", "c"] and outbox.waiting == (0, 0)
    assert outbox._queue is None  # noqa: SLF001 - given up with the backlog
    # The task is gone with the backlog: the next send is in the caller's call again.
    outbox.put_nowait({"type": "websocket.send", "text": "d"})
    assert sent == ["a", "b", "c", "d"]
    await outbox.aclose()


async def test_outbox_closed_while_a_send_waits_cancels_that_send():
    cancelled = asyncio.Event()

    async def send(message: dict[str, Any]) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    outbox = Outbox(send, max_frames=10, max_bytes=1000)
    outbox.put_nowait({"type": "websocket.send", "text": "a"})
    await asyncio.sleep(0)
    await outbox.aclose()
    # The send that was waiting got the cancellation, as an awaited send would.
    assert cancelled.is_set()


async def test_outbox_whose_server_refuses_a_message_sends_no_more_and_raises_to_no_one():
    calls: list[str] = []

    async def send(message: dict[str, Any]) -> None:
        calls.append(message["text"])
        raise RuntimeError("Unexpected ASGI message")

    outbox = Outbox(send, max_frames=10, max_bytes=1000)
    outbox.put_nowait({"type": "websocket.send", "text": "a"})
    outbox.put_nowait({"type": "websocket.send", "text": "b"})
    assert calls == ["a"] and outbox.gone
    await outbox.aclose()
