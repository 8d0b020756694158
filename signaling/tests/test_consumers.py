"""The lobby WebSocket through the real middleware stack: every frame, error and close code."""
from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from channels.db import database_sync_to_async

from errors.exceptions import VoiceBotError
from errors.testing import stored_events
from lobbies import events, moderation, services
from lobbies.events import emit
from lobbies.models import ChatMessage, GuestSession, Lobby, Participant

ENVELOPE_FIELDS = {
    "type", "code", "message", "category", "severity", "recovery", "correlation_id", "in_reply_to", "retry_after",
}

OFFER = {"type": "offer", "sdp": "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"}
CANDIDATE = {
    "candidate": "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host",
    "sdpMid": "0",
    "sdpMLineIndex": 0,
    "usernameFragment": "abcd",
}


async def assert_error(frame: dict[str, Any], code: str, *, recovery: str | None = None,
                       in_reply_to: str | None = None) -> Any:
    """The frame is the error envelope of ``code``, and the same error was stored once."""
    assert frame["type"] == "error", frame
    assert set(frame) == ENVELOPE_FIELDS, frame
    assert frame["code"] == code, frame
    assert frame["in_reply_to"] == in_reply_to
    assert isinstance(frame["message"], str) and frame["message"]
    assert len(frame["correlation_id"]) == 32
    if recovery is not None:
        assert frame["recovery"] == recovery, frame
    [event] = await stored_events(correlation_id=frame["correlation_id"])
    assert (event.group.code, event.group.category, event.group.severity) == (
        frame["code"], frame["category"], frame["severity"]
    )
    assert event.message == frame["message"]
    assert event.transport == "websocket"
    return event


@database_sync_to_async
def make_session(name: str | None = None) -> tuple[str, str]:
    session, token = services.session_create(name=name)
    return session.id, token


@database_sync_to_async
def make_lobby(**fields: Any) -> str:
    owner, _ = services.session_create()
    fields.setdefault("name", "Lobby")
    return services.lobby_create(session_id=owner.id, **fields).id


async def open_joined(ws, lobby_id: str, name: str, **fields: Any):
    session_id, token = await make_session()
    client = await ws(lobby_id, token, session_id=session_id)
    joined = await client.join(name, **fields)
    return client, joined


async def still_open(client) -> None:
    await client.send({"type": "ping", "id": "alive"})
    assert (await client.receive_type("pong"))["in_reply_to"] == "alive"


# --- Authentication, origin, lobby -------------------------------------------


async def test_socket_without_token_is_told_and_closed_4001(ws):
    lobby_id = await make_lobby()
    client = await ws(lobby_id, None)
    await assert_error(await client.receive(), "unauthenticated", recovery="reauthenticate")
    await client.expect_closed(4001)


@pytest.mark.parametrize("token", ["", "garbage", "0123456789abcdef0123456789abcdef:1xXG7u:forgedsignature"])
async def test_socket_with_forged_token_is_closed_4001(ws, token):
    lobby_id = await make_lobby()
    client = await ws(lobby_id, token)
    event = await assert_error(await client.receive(), "unauthenticated", recovery="reauthenticate")
    assert event.where == "websocket.connect" and event.lobby_id == lobby_id
    if token:
        assert token not in json.dumps(event.context) and token not in event.path
    await client.expect_closed(4001)


async def test_socket_with_expired_token_is_closed_4001(ws, settings):
    lobby_id = await make_lobby()
    _, token = await make_session()
    settings.VOICEBOT_TOKEN_MAX_AGE = -1
    client = await ws(lobby_id, token)
    frame = await client.receive()
    await assert_error(frame, "unauthenticated")
    assert "expired" in frame["message"]
    await client.expect_closed(4001)


async def test_token_of_a_deleted_session_is_closed_4001(ws):
    lobby_id = await make_lobby()
    session_id, token = await make_session()
    await database_sync_to_async(GuestSession.objects.filter(pk=session_id).delete)()
    client = await ws(lobby_id, token)
    await assert_error(await client.receive(), "unauthenticated")
    await client.expect_closed(4001)


async def test_unknown_lobby_is_told_and_closed_4004(ws):
    _, token = await make_session()
    client = await ws("nosuchlobby", token)
    await assert_error(await client.receive(), "lobby_not_found")
    await client.expect_closed(4004)


async def test_foreign_browser_origin_is_refused_at_handshake(ws):
    lobby_id = await make_lobby()
    _, token = await make_session()
    await ws(lobby_id, token, origin="https://evil.example", expect_accept=False)


async def test_allowed_origin_and_missing_origin_are_accepted(ws, settings):
    settings.ALLOWED_HOSTS = ["voice.example.org"]
    lobby_id = await make_lobby()
    _, token = await make_session()
    browser = await ws(lobby_id, token, origin="https://voice.example.org", host="voice.example.org", scheme="wss")
    await still_open(browser)
    _, token2 = await make_session()
    bot = await ws(lobby_id, token2)
    await still_open(bot)


@pytest.mark.parametrize(
    ("origin", "host", "scheme"),
    [
        ("http://127.0.0.1:9999", "127.0.0.1:8000", "ws"),  # another port of the same host
        ("http://127.0.0.1", "127.0.0.1:8000", "ws"),
        ("https://127.0.0.1:8000", "127.0.0.1:8000", "ws"),  # another scheme
        ("http://127.0.0.1:8000", "127.0.0.1:8000", "wss"),
        ("http://localhost:8000", "127.0.0.1:8000", "ws"),  # another allowed host than the socket's
        ("null", "127.0.0.1:8000", "ws"),  # a sandboxed page
        ("http://127.0.0.1:8000", None, "ws"),
    ],
    ids=["other-port", "default-port", "https-page-ws-socket", "http-page-wss-socket", "other-host", "null",
         "no-host-header"],
)
async def test_browser_origin_must_be_this_servers_scheme_host_and_port(ws, settings, origin, host, scheme):
    settings.ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
    lobby_id = await make_lobby()
    _, token = await make_session()
    await ws(lobby_id, token, origin=origin, host=host, scheme=scheme, expect_accept=False)


@pytest.mark.parametrize(
    ("origin", "host", "scheme"),
    [
        ("http://127.0.0.1:8000", "127.0.0.1:8000", "ws"),
        ("http://LOCALHOST:8000", "localhost:8000", "ws"),
        ("https://voice.example.org", "voice.example.org:443", "wss"),
        ("http://voice.example.org:80", "voice.example.org", "ws"),
    ],
)
async def test_browser_origin_of_this_server_is_accepted(ws, settings, origin, host, scheme):
    settings.ALLOWED_HOSTS = ["127.0.0.1", "localhost", "voice.example.org"]
    lobby_id = await make_lobby()
    _, token = await make_session()
    await still_open(await ws(lobby_id, token, origin=origin, host=host, scheme=scheme))


async def test_extra_allowed_origins_are_matched_exactly(ws, settings):
    settings.VOICEBOT_ALLOWED_ORIGINS = ["https://app.example.org"]
    lobby_id = await make_lobby()
    _, token = await make_session()
    await still_open(await ws(lobby_id, token, origin="https://app.example.org", host="127.0.0.1:8000"))
    _, token2 = await make_session()
    await ws(lobby_id, token2, origin="https://app.example.org:444", host="127.0.0.1:8000", expect_accept=False)


async def test_unknown_websocket_path_is_refused(ws):
    await ws("", None, path="/ws/elsewhere/", expect_accept=False)


# --- Bad frames: each gets an error, the socket stays open ---------------------


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("{not json", "invalid_json"),
        ("[" * 30_000, "invalid_json"),
        (" ", "invalid_json"),
        ("[1, 2]", "invalid_message"),
        ('"join"', "invalid_message"),
        ("{}", "invalid_message"),
        ('{"type": 7}', "invalid_message"),
        ('{"type": "dance"}', "unknown_message_type"),
        ('{"type": "ping", "id": 5}', "invalid_message"),
        ('{"type": ["ping"]}', "invalid_message"),
    ],
)
async def test_bad_text_frame_gets_typed_error_and_socket_stays_open(ws, raw, code):
    lobby_id = await make_lobby()
    _, token = await make_session()
    client = await ws(lobby_id, token)
    await client.send_raw(text=raw)
    await assert_error(await client.receive(), code, recovery="none")
    await still_open(client)


async def test_binary_frame_is_invalid_message(ws):
    lobby_id = await make_lobby()
    _, token = await make_session()
    client = await ws(lobby_id, token)
    await client.send_raw(data=b"\x00\x01binary")
    await assert_error(await client.receive(), "invalid_message")
    await still_open(client)


@pytest.mark.parametrize("frame", [{"id": "c-2"}, {"type": 7, "id": "c-2"}, {"type": None, "id": "c-2"}])
async def test_frame_without_string_type_still_answers_its_id(ws, frame):
    lobby_id = await make_lobby()
    _, token = await make_session()
    client = await ws(lobby_id, token)
    await client.send(frame)
    await assert_error(await client.receive(), "invalid_message", in_reply_to="c-2")
    await still_open(client)


async def test_unknown_type_repeats_frame_id(ws):
    lobby_id = await make_lobby()
    _, token = await make_session()
    client = await ws(lobby_id, token)
    await client.send({"type": "dance", "id": "c-1"})
    await assert_error(await client.receive(), "unknown_message_type", in_reply_to="c-1")


@pytest.mark.parametrize("frame_id", ["\ud800", "кадр-1 \u2026"], ids=["lone-surrogate", "non-ascii"])
async def test_an_error_repeats_any_frame_id_as_it_came(ws, frame_id):
    # The envelope's encoder (orjson) refuses a lone surrogate: the standard library's writes it.
    lobby_id = await make_lobby()
    _, token = await make_session()
    client = await ws(lobby_id, token)
    await client.send({"type": "dance", "id": frame_id})
    await assert_error(await client.receive(), "unknown_message_type", in_reply_to=frame_id)
    await still_open(client)


async def test_frame_over_64_kib_is_message_too_large(ws):
    lobby_id = await make_lobby()
    _, token = await make_session()
    client = await ws(lobby_id, token)
    await client.send({"type": "chat", "text": "x" * (64 * 1024)})
    await assert_error(await client.receive(), "message_too_large")
    await still_open(client)


async def test_frame_of_multibyte_text_over_64_kib_is_message_too_large(ws):
    lobby_id = await make_lobby()
    _, token = await make_session()
    client = await ws(lobby_id, token)
    # 22,000 three-byte characters: under 64 Ki characters, over 64 KiB.
    await client.send_raw(text=json.dumps({"type": "chat", "text": "€" * 22_000}, ensure_ascii=False))
    await assert_error(await client.receive(), "message_too_large")


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "leave"},
        {"type": "set_name", "name": "New"},
        {"type": "set_muted", "muted": True},
        {"type": "chat", "text": "hi"},
        {"type": "relay_session_description", "peer_id": "x", "description": OFFER},
        {"type": "relay_ice_candidate", "peer_id": "x", "candidate": CANDIDATE},
    ],
)
async def test_frames_before_join_are_not_joined(ws, frame):
    lobby_id = await make_lobby()
    _, token = await make_session()
    client = await ws(lobby_id, token)
    await client.send({**frame, "id": "f"})
    await assert_error(await client.receive(), "not_joined", recovery="rejoin", in_reply_to="f")
    await still_open(client)


async def test_too_many_bad_frames_close_with_policy_violation(ws, settings):
    settings.VOICEBOT_BAD_FRAME_LIMIT = "5/10 seconds"
    lobby_id = await make_lobby()
    _, token = await make_session()
    client = await ws(lobby_id, token)
    for _ in range(5):
        await client.send_raw(text="nope")
        await assert_error(await client.receive(), "invalid_json")
    await client.send_raw(text="nope")
    await assert_error(await client.receive(), "invalid_json")
    await assert_error(await client.receive(), "policy_violation", recovery="reconnect")
    await client.expect_closed(4008)


async def test_default_policy_tolerates_30_bad_frames(ws):
    lobby_id = await make_lobby()
    _, token = await make_session()
    client = await ws(lobby_id, token)
    for _ in range(30):
        await client.send_raw(text="nope")
        await assert_error(await client.receive(), "invalid_json")
    await still_open(client)


async def test_frame_rate_limit_answers_rate_limited_with_retry_after(ws, settings):
    settings.VOICEBOT_FRAME_RATE = "3/10 seconds"
    lobby_id = await make_lobby()
    _, token = await make_session()
    client = await ws(lobby_id, token)
    for i in range(3):
        await client.send({"type": "ping", "id": str(i)})
        await client.receive_type("pong")
    await client.send({"type": "ping", "id": "over"})
    frame = await client.receive()
    await assert_error(frame, "rate_limited", recovery="retry", in_reply_to="over")
    assert 0 < frame["retry_after"] <= 10


# --- Join ----------------------------------------------------------------------


async def test_join_answers_joined_with_lobby_self_others_and_history(ws):
    lobby_id = await make_lobby(name="Standup")
    a, _ = await open_joined(ws, lobby_id, "Ann")
    await a.send({"type": "chat", "text": "first"})
    await a.receive_type("chat")
    session_id, token = await make_session()
    b = await ws(lobby_id, token, session_id=session_id)
    await b.send({"type": "join", "name": "  Bob  ", "id": "j1"})
    joined = await b.receive_type("joined")
    assert joined["in_reply_to"] == "j1"
    assert joined["lobby"]["id"] == lobby_id
    assert joined["lobby"]["name"] == "Standup"
    assert joined["lobby"]["participant_count"] == 2
    assert joined["self"] == {"session_id": session_id, "name": "Bob", "is_bot": False, "muted": False,
                              "status": "connected"}
    assert [p["name"] for p in joined["participants"]] == ["Ann"]
    assert [(m["name"], m["text"]) for m in joined["chat_history"]] == [("Ann", "first")]
    assert joined["chat_history"][0]["ts"].endswith("+00:00")


async def test_add_peer_roles_follow_perfect_negotiation(ws):
    lobby_id = await make_lobby()
    a, _ = await open_joined(ws, lobby_id, "Ann")
    b, _ = await open_joined(ws, lobby_id, "Bob")
    assert await b.receive_type("add_peer") == {
        "type": "add_peer", "peer_id": a.session_id, "should_create_offer": True, "polite": False,
    }
    assert (await a.receive_type("participant_joined"))["participant"]["name"] == "Bob"
    assert await a.receive_type("add_peer") == {
        "type": "add_peer", "peer_id": b.session_id, "should_create_offer": False, "polite": True,
    }


async def test_join_twice_is_already_joined(joined_pair):
    _, a, _ = joined_pair
    await a.send({"type": "join", "name": "Again", "id": "j2"})
    await assert_error(await a.receive(), "already_joined", in_reply_to="j2")
    await still_open(a)


@pytest.mark.parametrize("name", ["", "   ", "x" * 33, "bad\x07bell", "zero\u200bwidth", 42, None])
async def test_join_with_invalid_name_is_invalid_name(ws, name):
    lobby_id = await make_lobby()
    _, token = await make_session()
    client = await ws(lobby_id, token)
    await client.send({"type": "join", "name": name})
    await assert_error(await client.receive(), "invalid_name")
    await still_open(client)


async def test_join_with_name_taken_ignoring_case_is_name_taken(ws):
    lobby_id = await make_lobby()
    await open_joined(ws, lobby_id, "Ann")
    _, token = await make_session()
    client = await ws(lobby_id, token)
    await client.send({"type": "join", "name": "ANN"})
    await assert_error(await client.receive(), "name_taken")
    await client.join("Anna")


async def test_password_lobby_refuses_wrong_password_and_admits_right_one(ws):
    lobby_id = await make_lobby(password="s3cret")
    _, token = await make_session()
    client = await ws(lobby_id, token)
    await client.send({"type": "join", "name": "Ann"})
    await assert_error(await client.receive(), "invalid_lobby_password")
    await client.send({"type": "join", "name": "Ann", "password": "wrong"})
    await assert_error(await client.receive(), "invalid_lobby_password")
    await client.send({"type": "join", "name": "Ann", "password": 123})
    await assert_error(await client.receive(), "invalid_message")
    await client.join("Ann", password="s3cret")


async def test_full_lobby_is_lobby_full(ws):
    lobby_id = await make_lobby(max_participants=2)
    await open_joined(ws, lobby_id, "Ann")
    await open_joined(ws, lobby_id, "Bob")
    _, token = await make_session()
    client = await ws(lobby_id, token)
    await client.send({"type": "join", "name": "Cyd"})
    assert await client.receive() == {"type": "waiting_for_seat", "position": 1}
    frame = await client.receive()
    await assert_error(frame, "lobby_full", recovery="retry")
    assert frame["retry_after"] > 0
    await still_open(client)


# --- Relays ----------------------------------------------------------------------


async def test_offer_answer_and_candidates_reach_only_the_peer(joined_pair):
    _, a, b = joined_pair
    await b.send({"type": "relay_session_description", "peer_id": a.session_id, "description": OFFER})
    assert await a.receive_type("session_description") == {
        "type": "session_description", "peer_id": b.session_id, "description": OFFER,
    }
    answer = {"type": "answer", "sdp": "v=0\r\n"}
    await a.send({"type": "relay_session_description", "peer_id": b.session_id, "description": answer})
    assert (await b.receive_type("session_description"))["description"] == answer
    await b.send({"type": "relay_ice_candidate", "peer_id": a.session_id, "candidate": CANDIDATE})
    assert await a.receive_type("ice_candidate") == {
        "type": "ice_candidate", "peer_id": b.session_id, "candidate": CANDIDATE,
    }
    end_of_candidates = {"candidate": "", "sdpMid": None, "sdpMLineIndex": None, "usernameFragment": None}
    await b.send({"type": "relay_ice_candidate", "peer_id": a.session_id, "candidate": {"candidate": ""}})
    assert (await a.receive_type("ice_candidate"))["candidate"] == end_of_candidates
    await a.nothing_more()
    await b.nothing_more()


async def test_relays_between_sockets_of_one_process_do_not_use_the_channel_layer(joined_pair, monkeypatch):
    from resilience.channel_layer import channel_layer

    _, a, b = joined_pair

    async def layer_down(channel: str, message: dict[str, Any]) -> None:
        raise OSError("the channel layer is down")

    monkeypatch.setattr(channel_layer().layer, "send", layer_down)
    for _ in range(3):
        await b.send({"type": "relay_ice_candidate", "peer_id": a.session_id, "candidate": CANDIDATE})
    for _ in range(3):
        assert (await a.receive_type("ice_candidate"))["peer_id"] == b.session_id
    await a.nothing_more()
    await b.nothing_more()


def relay_message(lobby_id: str, sender: str, epoch: str, frame: dict[str, Any]) -> dict[str, Any]:
    return {"type": "peer.relay", "lobby_id": lobby_id, "sender": sender, "epoch": epoch, "text": json.dumps(frame)}


async def test_relay_that_overtakes_its_senders_join_waits_for_it(ws):
    from signaling.inbox import inbox_local

    lobby_id = await make_lobby()
    a, _ = await open_joined(ws, lobby_id, "Ann")
    a_channel = await database_sync_to_async(lambda: Participant.objects.get(lobby_id=lobby_id).channel_name)()
    b_id, _ = await make_session()
    # Bob joins from a socket of this process whose event is still on its
    # way when his first relays reach Ann's socket.
    result = await database_sync_to_async(services.lobby_join)(
        lobby_id=lobby_id, session_id=b_id, name="Bob", password=None, channel_name="bob-channel", instance_id="x"
    )
    epoch = result.participant.epoch
    inbox = inbox_local(a_channel)
    assert inbox is not None
    offer = {"type": "session_description", "peer_id": b_id, "description": OFFER}
    candidate = {"type": "ice_candidate", "peer_id": b_id, "candidate": CANDIDATE}
    inbox.put(relay_message(lobby_id, b_id, epoch, offer))
    inbox.put(relay_message(lobby_id, b_id, "an-older-socket", candidate))
    inbox.put(relay_message(lobby_id, b_id, epoch, candidate))
    await a.nothing_more()
    await emit(result.events)
    assert (await a.receive_type("participant_joined"))["participant"]["session_id"] == b_id
    assert (await a.receive_type("add_peer"))["peer_id"] == b_id
    assert await a.receive() == offer
    assert await a.receive() == candidate
    await a.nothing_more()


async def pair_inbox(lobby_id: str, a, b) -> tuple[Any, str]:
    """Ann's inbox (the socket of this process Bob's relays go to) and Bob's join epoch."""
    from signaling.inbox import inbox_local

    a_channel, b_epoch = await database_sync_to_async(lambda: (
        Participant.objects.get(lobby_id=lobby_id, session_id=a.session_id).channel_name,
        Participant.objects.get(lobby_id=lobby_id, session_id=b.session_id).epoch,
    ))()
    inbox = inbox_local(a_channel)
    assert inbox is not None
    return inbox, b_epoch


async def test_relay_to_a_local_socket_between_messages_is_handed_over_in_the_senders_call(joined_pair):
    lobby_id, a, b = joined_pair
    inbox, epoch = await pair_inbox(lobby_id, a, b)
    candidate = {"type": "ice_candidate", "peer_id": b.session_id, "candidate": CANDIDATE}
    inbox.put_relay(relay_message(lobby_id, b.session_id, epoch, candidate))
    # Not queued for Ann's message loop: already in her socket's outbox.
    assert not inbox._local
    assert await a.receive() == candidate
    await a.nothing_more()


async def test_relay_behind_a_waiting_channel_message_goes_in_line_after_it(joined_pair):
    lobby_id, a, b = joined_pair
    inbox, epoch = await pair_inbox(lobby_id, a, b)
    candidate = {"type": "ice_candidate", "peer_id": b.session_id, "candidate": CANDIDATE}
    # Bob's departure reaches Ann's inbox, then (before her loop has run) a relay of his.
    inbox.deliver(events.participant_left(lobby_id, b.session_id, reason="left", epoch=epoch).message)
    inbox.put_relay(relay_message(lobby_id, b.session_id, epoch, candidate))
    assert await a.receive() == {"type": "remove_peer", "peer_id": b.session_id}
    assert (await a.receive())["type"] == "participant_left"
    # Handed over at once, the relay would have reached her before he left; in line, it goes nowhere.
    await a.nothing_more()


async def test_relay_while_the_socket_is_inside_a_handler_waits_for_the_loop(joined_pair):
    lobby_id, a, b = joined_pair
    inbox, epoch = await pair_inbox(lobby_id, a, b)
    consumer = inbox.direct.__self__
    candidate = {"type": "ice_candidate", "peer_id": b.session_id, "candidate": CANDIDATE}
    # As while Ann's join (or any handler that waits) is half done.
    consumer.mailbox.dispatching = True
    try:
        inbox.put_relay(relay_message(lobby_id, b.session_id, epoch, candidate))
        # Not taken in this call: it waits in the loop's mailbox (the layer delivers into it).
        assert consumer.mailbox.others == 1 and consumer.mailbox.items[-1]["type"] == "peer.relay"
    finally:
        consumer.mailbox.dispatching = False
    assert await a.receive() == candidate


def pumps() -> list[asyncio.Task]:
    return [task for task in asyncio.all_tasks() if task.get_coro().__qualname__ == "dispatch_from.<locals>.pump"]


async def test_a_joined_socket_has_one_pump_its_channel_messages_are_put_into_its_mailbox(joined_pair):
    lobby_id, a, b = joined_pair
    inbox, epoch = await pair_inbox(lobby_id, a, b)
    consumer = inbox.direct.__self__
    # Two joined sockets, one pump each (their client frames); the in-memory layer delivers the rest.
    assert consumer.channel_pushes and len(pumps()) == 2
    await b.send({"type": "chat", "text": "hello"})
    assert (await a.receive_type("chat"))["text"] == "hello"


async def test_past_its_capacity_a_socket_refuses_relays_with_the_senders_typed_error_and_goes_on(
    joined_pair, settings
):
    lobby_id, a, b = joined_pair
    inbox, epoch = await pair_inbox(lobby_id, a, b)
    consumer = inbox.direct.__self__
    settings.VOICEBOT_CHANNEL_CAPACITY = 3
    frames = [{"type": "ice_candidate", "peer_id": b.session_id, "candidate": {**CANDIDATE, "sdpMid": str(n)}}
              for n in range(5)]
    consumer.mailbox.dispatching = True  # Ann's loop is inside a handler: relays wait in her mailbox
    try:
        for frame in frames[:3]:
            inbox.put_relay(relay_message(lobby_id, b.session_id, epoch, frame))
        with pytest.raises(VoiceBotError) as refused:
            inbox.put_relay(relay_message(lobby_id, b.session_id, epoch, frames[3]))
        assert refused.value.code == "service_unavailable" and consumer.mailbox.others == 3
    finally:
        consumer.mailbox.dispatching = False
    assert [await a.receive() for _ in range(3)] == frames[:3]
    # Once read, there is room again.
    inbox.put_relay(relay_message(lobby_id, b.session_id, epoch, frames[4]))
    assert await a.receive() == frames[4]


async def test_held_relays_of_a_sender_that_left_are_dropped(ws):
    from signaling.inbox import inbox_local

    lobby_id = await make_lobby()
    a, _ = await open_joined(ws, lobby_id, "Ann")
    a_channel = await database_sync_to_async(lambda: Participant.objects.get(lobby_id=lobby_id).channel_name)()
    inbox = inbox_local(a_channel)
    assert inbox is not None
    b_id, _ = await make_session()
    inbox.put(relay_message(lobby_id, b_id, "e1", {"type": "ice_candidate", "peer_id": b_id, "candidate": CANDIDATE}))
    await a.nothing_more()
    await emit([events.participant_left(lobby_id, b_id, reason="left", epoch="e1")])
    assert await a.receive() == {"type": "participant_left", "session_id": b_id, "reason": "left"}
    await emit([events.participant_joined(lobby_id, {"session_id": b_id}, channel="bob-channel", epoch="e1")])
    await a.receive_type("participant_joined")
    await a.receive_type("add_peer")
    await a.nothing_more()


async def test_relay_forwards_only_protocol_fields(joined_pair):
    _, a, b = joined_pair
    await b.send({"type": "relay_session_description", "peer_id": a.session_id,
                  "description": {**OFFER, "extra": "x" * 10}, "junk": 1})
    assert (await a.receive_type("session_description"))["description"] == OFFER


async def test_rollback_needs_no_sdp(joined_pair):
    _, a, b = joined_pair
    await b.send({"type": "relay_session_description", "peer_id": a.session_id, "description": {"type": "rollback"}})
    assert (await a.receive_type("session_description"))["description"] == {"type": "rollback", "sdp": ""}


@pytest.mark.parametrize(
    "description",
    [None, "v=0", {"type": "bogus", "sdp": "v=0"}, {"type": "offer"}, {"type": "offer", "sdp": 5},
     {"type": "offer", "sdp": "hello"}, {"sdp": "v=0"},
     # Unhashable types: a set lookup would raise TypeError (internal_error).
     {"type": [], "sdp": "v=0"}, {"type": {}, "sdp": "v=0"}, {"type": ["offer"], "sdp": "v=0"}],
)
async def test_invalid_session_description_is_refused_and_not_relayed(joined_pair, description):
    _, a, b = joined_pair
    await b.send({"type": "relay_session_description", "peer_id": a.session_id, "description": description,
                  "id": "d"})
    await assert_error(await b.receive(), "invalid_session_description", in_reply_to="d")
    await a.nothing_more()
    await still_open(b)


@pytest.mark.parametrize(
    "candidate",
    [None, "candidate:1", {}, {"candidate": 5}, {"candidate": "not a candidate"},
     {**CANDIDATE, "sdpMLineIndex": True}, {**CANDIDATE, "sdpMLineIndex": -1}, {**CANDIDATE, "sdpMid": 0},
     {**CANDIDATE, "usernameFragment": ["x"]}, {**CANDIDATE, "candidate": "candidate:" + "1" * 2000},
     {**CANDIDATE, "sdpMLineIndex": 2**70}, {**CANDIDATE, "sdpMLineIndex": 1.0}],
)
async def test_invalid_ice_candidate_is_refused_and_not_relayed(joined_pair, candidate):
    _, a, b = joined_pair
    await b.send({"type": "relay_ice_candidate", "peer_id": a.session_id, "candidate": candidate})
    await assert_error(await b.receive(), "invalid_ice_candidate")
    await a.nothing_more()


async def test_relay_without_string_peer_id_is_invalid_message(joined_pair):
    _, a, b = joined_pair
    await b.send({"type": "relay_ice_candidate", "candidate": CANDIDATE})
    await assert_error(await b.receive(), "invalid_message")
    await b.send({"type": "relay_ice_candidate", "peer_id": 7, "candidate": CANDIDATE})
    await assert_error(await b.receive(), "invalid_message")


async def test_relay_to_self_or_unknown_peer_is_peer_not_found(joined_pair):
    _, a, b = joined_pair
    for peer_id in (b.session_id, "0" * 32):
        await b.send({"type": "relay_ice_candidate", "peer_id": peer_id, "candidate": CANDIDATE})
        await assert_error(await b.receive(), "peer_not_found")
    await a.nothing_more()


async def test_relay_to_peer_in_other_lobby_is_refused(ws, joined_pair):
    _, a, _ = joined_pair
    other_lobby = await make_lobby()
    c, _ = await open_joined(ws, other_lobby, "Cyd")
    await c.send({"type": "relay_session_description", "peer_id": a.session_id, "description": OFFER})
    event = await assert_error(await c.receive(), "peer_not_found", recovery="none")
    assert (event.where, event.lobby_id, event.session_id) == ("relay_session_description", other_lobby, c.session_id)
    await a.nothing_more()


# --- Chat, names, mute, leave, ping -----------------------------------------------


async def test_chat_reaches_everyone_including_sender(joined_pair):
    _, a, b = joined_pair
    await a.send({"type": "chat", "text": "hello"})
    for client in (a, b):
        frame = await client.receive_type("chat")
        assert (frame["session_id"], frame["name"], frame["text"]) == (a.session_id, "Ann", "hello")
        assert "T" in frame["ts"]


@pytest.mark.parametrize("text", ["", "   ", "x" * 2001, 5, None, "\ud800", "lone \udfff low", "nul \x00 inside"],
                         ids=["empty", "blank", "2001", "number", "null", "lone-high-surrogate", "lone-low-surrogate",
                              "nul"])
async def test_invalid_chat_text_is_invalid_message(joined_pair, text):
    _, a, b = joined_pair
    await a.send({"type": "chat", "text": text})
    await assert_error(await a.receive(), "invalid_message")
    await b.nothing_more()
    assert await database_sync_to_async(ChatMessage.objects.count)() == 0


@pytest.mark.parametrize("password", ["\ud800", "p" * 5000])
async def test_join_with_unhashable_or_huge_password_is_refused_with_a_typed_error(ws, password):
    lobby_id = await make_lobby(password="pw")
    _, token = await make_session()
    client = await ws(lobby_id, token)
    await client.send({"type": "join", "name": "Ann", "password": password})
    frame = await client.receive()
    assert frame["code"] in ("invalid_message", "invalid_lobby_password"), frame
    await assert_error(frame, frame["code"])
    await still_open(client)


async def test_chat_history_keeps_the_newest_50(ws, settings):
    settings.VOICEBOT_CHAT_RATE = "100/1 second"
    lobby_id = await make_lobby()
    a, _ = await open_joined(ws, lobby_id, "Ann")
    for i in range(55):
        await a.send({"type": "chat", "text": f"m{i}"})
        await a.receive_type("chat")
    _, joined = await open_joined(ws, lobby_id, "Bob")
    assert [m["text"] for m in joined["chat_history"]] == [f"m{i}" for i in range(5, 55)]


async def test_chat_flood_is_rate_limited(joined_pair, settings):
    settings.VOICEBOT_CHAT_RATE = "2/10 seconds"
    _, a, b = joined_pair
    for text in ("one", "two"):
        await a.send({"type": "chat", "text": text})
        await a.receive_type("chat")
        await b.receive_type("chat")
    await a.send({"type": "chat", "text": "three"})
    frame = await a.receive()
    await assert_error(frame, "rate_limited", recovery="retry")
    assert frame["retry_after"] > 0
    await b.nothing_more()


async def test_the_senders_copy_of_a_chat_answers_its_frame(joined_pair):
    _, a, b = joined_pair
    await a.send({"type": "chat", "id": "c-7", "text": "hello"})
    mine, theirs = await a.receive_type("chat"), await b.receive_type("chat")
    assert mine["in_reply_to"] == "c-7"
    assert "in_reply_to" not in theirs
    assert {k: v for k, v in mine.items() if k != "in_reply_to"} == theirs


async def test_chat_sent_one_at_a_time_keeps_its_order_through_rate_limits(joined_pair, settings):
    """What the web client's chat queue does: the next line only after the last was answered; after
    rate_limited it waits retry_after and sends the same line again."""
    settings.VOICEBOT_CHAT_RATE = "2/1 second"
    lobby_id, a, b = joined_pair
    lines = [f"m{i}" for i in range(1, 6)]
    refusals = 0
    for index, text in enumerate(lines):
        while True:
            await a.send({"type": "chat", "id": f"c-{index}", "text": text})
            answer = await a.receive()
            assert answer["in_reply_to"] == f"c-{index}"
            if answer["type"] == "chat":
                break
            await assert_error(answer, "rate_limited", recovery="retry", in_reply_to=f"c-{index}")
            refusals += 1
            await asyncio.sleep(answer["retry_after"])
    assert refusals >= 1
    assert [(await b.receive_type("chat"))["text"] for _ in lines] == lines
    stored = await database_sync_to_async(
        lambda: list(ChatMessage.objects.filter(lobby_id=lobby_id).order_by("id").values_list("text", flat=True))
    )()
    assert stored == lines


async def test_set_name_updates_everyone_and_refuses_taken_names(joined_pair):
    _, a, b = joined_pair
    await b.send({"type": "set_name", "name": "Robert"})
    for client in (a, b):
        participant = (await client.receive_type("participant_updated"))["participant"]
        assert (participant["session_id"], participant["name"]) == (b.session_id, "Robert")
    await b.send({"type": "set_name", "name": "ann"})
    await assert_error(await b.receive(), "name_taken")
    await b.send({"type": "set_name", "name": "\n"})
    await assert_error(await b.receive(), "invalid_name")
    await a.nothing_more()


async def test_set_muted_updates_everyone(joined_pair):
    _, a, b = joined_pair
    await a.send({"type": "set_muted", "muted": True})
    for client in (a, b):
        participant = (await client.receive_type("participant_updated"))["participant"]
        assert participant["session_id"] == a.session_id and participant["muted"] is True
    await a.send({"type": "set_muted", "muted": "yes"})
    await assert_error(await a.receive(), "invalid_message")


async def test_leave_removes_peer_and_keeps_socket_open(joined_pair):
    lobby_id, a, b = joined_pair
    await b.send({"type": "leave"})
    assert await a.receive_type("remove_peer") == {"type": "remove_peer", "peer_id": b.session_id}
    assert await a.receive_type("participant_left") == {
        "type": "participant_left", "session_id": b.session_id, "reason": "left",
    }
    await still_open(b)
    await b.send({"type": "relay_ice_candidate", "peer_id": a.session_id, "candidate": CANDIDATE})
    await assert_error(await b.receive(), "not_joined")
    await a.send({"type": "chat", "text": "after"})
    await a.receive_type("chat")
    await b.nothing_more()
    rejoined = await b.join("Bob")
    assert rejoined["resumed"] is False
    assert not await database_sync_to_async(
        Participant.objects.filter(lobby_id=lobby_id, session_id=b.session_id, status="reconnecting").exists
    )()


async def test_ping_answers_pong_with_in_reply_to(ws):
    lobby_id = await make_lobby()
    _, token = await make_session()
    client = await ws(lobby_id, token)
    await client.send({"type": "ping", "id": "p-9"})
    assert await client.receive() == {"type": "pong", "in_reply_to": "p-9"}
    await client.send({"type": "ping"})
    assert await client.receive() == {"type": "pong", "in_reply_to": None}


# --- Presence and reconnect ----------------------------------------------------------


async def test_dropped_socket_becomes_reconnecting_and_resumes(ws, joined_pair):
    lobby_id, a, b = joined_pair
    await b.close()
    updated = (await a.receive_type("participant_updated"))["participant"]
    assert (updated["session_id"], updated["status"]) == (b.session_id, "reconnecting")
    # A reconnecting participant gets no relays.
    await a.send({"type": "relay_ice_candidate", "peer_id": b.session_id, "candidate": CANDIDATE})
    await assert_error(await a.receive(), "peer_not_found")
    # A newcomer sees it but gets no add_peer for it.
    c, joined_c = await open_joined(ws, lobby_id, "Cyd")
    assert {p["name"]: p["status"] for p in joined_c["participants"]} == {"Ann": "connected", "Bob": "reconnecting"}
    assert (await c.receive_type("add_peer"))["peer_id"] == a.session_id
    await c.nothing_more()
    await a.receive_type("participant_joined")
    await a.receive_type("add_peer")


async def test_resume_with_same_token_renegotiates_with_everyone(ws):
    lobby_id = await make_lobby(password="pw")
    a, _ = await open_joined(ws, lobby_id, "Ann", password="pw")
    b, _ = await open_joined(ws, lobby_id, "Bob", password="pw")
    await b.receive_type("add_peer")
    await a.receive_type("participant_joined")
    await a.receive_type("add_peer")
    await b.close()
    assert (await a.receive_type("participant_updated"))["participant"]["status"] == "reconnecting"

    b2 = await ws(lobby_id, b.token, session_id=b.session_id)
    await b2.send({"type": "join", "name": "ignored", "id": "r"})
    joined = await b2.receive_type("joined")
    assert joined["resumed"] is True and joined["in_reply_to"] == "r"
    assert joined["self"]["name"] == "Bob" and joined["self"]["status"] == "connected"
    assert await b2.receive_type("add_peer") == {
        "type": "add_peer", "peer_id": a.session_id, "should_create_offer": True, "polite": False,
    }
    updated = (await a.receive_type("participant_updated"))["participant"]
    assert (updated["session_id"], updated["status"]) == (b.session_id, "connected")
    assert await a.receive_type("remove_peer") == {"type": "remove_peer", "peer_id": b.session_id}
    assert await a.receive_type("add_peer") == {
        "type": "add_peer", "peer_id": b.session_id, "should_create_offer": False, "polite": True,
    }
    # Relays flow again both ways.
    await b2.send({"type": "relay_session_description", "peer_id": a.session_id, "description": OFFER})
    assert (await a.receive_type("session_description"))["peer_id"] == b.session_id
    await a.send({"type": "relay_ice_candidate", "peer_id": b.session_id, "candidate": CANDIDATE})
    assert (await b2.receive_type("ice_candidate"))["peer_id"] == a.session_id


async def test_reconnecting_participant_times_out_after_grace(ws, settings):
    from datetime import timedelta

    from lobbies.presence import presence_sweep

    settings.VOICEBOT_RECONNECT_GRACE = 20
    lobby_id = await make_lobby()
    a, _ = await open_joined(ws, lobby_id, "Ann")
    b, _ = await open_joined(ws, lobby_id, "Bob")
    await b.receive_type("add_peer")
    await a.receive_type("participant_joined")
    await a.receive_type("add_peer")
    await b.close()
    await a.receive_type("participant_updated")
    dropped_at = await database_sync_to_async(
        lambda: Participant.objects.get(session_id=b.session_id).disconnected_at
    )()
    sweep = database_sync_to_async(presence_sweep)
    # Inside the grace period: nothing happens.
    assert await sweep(now=dropped_at + timedelta(seconds=19)) == []
    await a.nothing_more()
    await emit(await sweep(now=dropped_at + timedelta(seconds=21)))
    assert await a.receive_type("remove_peer") == {"type": "remove_peer", "peer_id": b.session_id}
    assert await a.receive_type("participant_left") == {
        "type": "participant_left", "session_id": b.session_id, "reason": "timeout",
    }
    assert not await database_sync_to_async(Participant.objects.filter(session_id=b.session_id).exists)()
    # Too late to resume: the same token joins as a newcomer.
    b2 = await ws(lobby_id, b.token, session_id=b.session_id)
    assert (await b2.join("Bob"))["resumed"] is False


async def test_zero_grace_leaves_at_once_as_disconnected(ws, settings):
    settings.VOICEBOT_RECONNECT_GRACE = 0
    lobby_id = await make_lobby()
    a, _ = await open_joined(ws, lobby_id, "Ann")
    b, _ = await open_joined(ws, lobby_id, "Bob")
    await a.receive_type("participant_joined")
    await a.receive_type("add_peer")
    await b.close()
    await a.receive_type("remove_peer")
    assert (await a.receive_type("participant_left"))["reason"] == "disconnected"


async def test_a_dropped_socket_takes_the_database_thread_only_for_its_disconnect(ws, monkeypatch):
    """Its place is held through db_call; Channels' extra hop to close old connections is not taken."""
    import channels.generic.websocket
    from channels.db import aclose_old_connections

    hops: list[str] = []

    async def counted_close() -> None:
        hops.append("close_old_connections")
        await aclose_old_connections()

    monkeypatch.setattr(channels.generic.websocket, "aclose_old_connections", counted_close)
    lobby_id = await make_lobby()
    a, _ = await open_joined(ws, lobby_id, "Ann")
    b, _ = await open_joined(ws, lobby_id, "Bob")
    await a.receive_type("participant_joined")
    await a.receive_type("add_peer")
    await b.close()  # returns once b's consumer has ended
    assert (await a.receive_type("participant_updated"))["participant"]["status"] == "reconnecting"
    assert hops == []
    # Its place is held (the disconnect's own database call ran).
    assert await database_sync_to_async(
        lambda: Participant.objects.get(session_id=b.session_id).status
    )() == Participant.Status.RECONNECTING


async def test_sockets_of_a_process_taken_for_dead_close_4011_and_resume_their_places(ws, settings):
    """Another process's sweep orphaned this one's participants: their sockets reconnect to take them back."""
    from datetime import timedelta

    from django.utils import timezone

    from lobbies.presence import heartbeat_once, presence_sweep

    settings.VOICEBOT_RECONNECT_GRACE = 60
    lobby_id = await make_lobby()
    a, _ = await open_joined(ws, lobby_id, "Ann")
    session_id, token = await make_session()
    idle = await ws(lobby_id, token, session_id=session_id)  # open, never joined: it has no place to lose
    await heartbeat_once(beaten_before=False)
    # Another process sweeps 30 s on: this one's heartbeat is three intervals old.
    orphaned = await database_sync_to_async(presence_sweep)(
        instance_id="another-process", now=timezone.now() + timedelta(seconds=30))
    assert [e.message["participant"]["status"] for e in orphaned] == ["reconnecting"]
    # Its next heartbeat finds its row gone.
    await heartbeat_once(beaten_before=True)
    event = await assert_error(await a.receive(), "internal_error", recovery="reconnect")
    assert event.group.category == "system"
    await a.expect_closed(4011)
    await a.close()
    await still_open(idle)
    back = await ws(lobby_id, a.token, session_id=a.session_id)
    joined = await back.join("whatever")
    assert joined["resumed"] is True and joined["self"]["name"] == "Ann"
    assert await database_sync_to_async(
        lambda: Participant.objects.get(session_id=a.session_id).status
    )() == Participant.Status.CONNECTED


async def test_a_first_heartbeat_that_creates_the_row_closes_no_socket(ws):
    from lobbies.presence import heartbeat_once
    from lobbies.models import ServerInstance

    lobby_id = await make_lobby()
    a, _ = await open_joined(ws, lobby_id, "Ann")
    await database_sync_to_async(lambda: ServerInstance.objects.all().delete())()
    await heartbeat_once(beaten_before=False)
    await still_open(a)


async def test_second_socket_of_a_session_replaces_the_first_with_4009(ws):
    lobby_id = await make_lobby()
    a, _ = await open_joined(ws, lobby_id, "Ann")
    b, _ = await open_joined(ws, lobby_id, "Bob")
    await b.receive_type("add_peer")
    await a.receive_type("participant_joined")
    await a.receive_type("add_peer")
    b2 = await ws(lobby_id, b.token, session_id=b.session_id)
    await assert_error(await b.receive(), "session_replaced")
    await b.expect_closed(4009)
    await b.close()
    assert (await a.receive_type("participant_updated"))["participant"]["status"] == "reconnecting"
    joined = await b2.join("whatever")
    assert joined["resumed"] is True and joined["self"]["name"] == "Bob"
    await a.receive_type("participant_updated")
    await a.receive_type("remove_peer")
    await a.receive_type("add_peer")


async def test_joining_another_lobby_leaves_the_first(ws):
    first = await make_lobby()
    second = await make_lobby()
    a, _ = await open_joined(ws, first, "Ann")
    b, _ = await open_joined(ws, first, "Bob")
    await a.receive_type("participant_joined")
    await a.receive_type("add_peer")
    await b.close()
    await a.receive_type("participant_updated")
    b2 = await ws(second, b.token, session_id=b.session_id)
    await b2.join("Bob")
    await a.receive_type("remove_peer")
    assert (await a.receive_type("participant_left"))["reason"] == "left"
    assert await database_sync_to_async(
        lambda: Participant.objects.get(session_id=b.session_id).lobby_id
    )() == second


# --- Staff actions --------------------------------------------------------------------


async def test_kicked_participant_is_told_and_closed_4003(joined_pair):
    _, a, b = joined_pair
    participant_id = await database_sync_to_async(lambda: Participant.objects.get(session_id=b.session_id).pk)()
    await emit(await database_sync_to_async(moderation.participant_kick)(participant_id=participant_id))
    await assert_error(await b.receive(), "kicked")
    await b.expect_closed(4003)
    await a.receive_type("remove_peer")
    assert (await a.receive_type("participant_left"))["reason"] == "kicked"


async def test_closed_lobby_closes_every_socket_4004(joined_pair):
    lobby_id, a, b = joined_pair
    await emit(await database_sync_to_async(moderation.lobby_close)(lobby_id=lobby_id))
    for client in (a, b):
        await assert_error(await client.receive(), "lobby_not_found")
        await client.expect_closed(4004)
    assert await database_sync_to_async(lambda: Lobby.objects.get(pk=lobby_id).closed_at is not None)()


# --- Unexpected failures --------------------------------------------------------------


async def test_unexpected_failure_in_a_frame_is_internal_error_without_internals(joined_pair, monkeypatch):
    _, a, b = joined_pair

    def broken(**kwargs: Any) -> None:
        raise RuntimeError("SELECT secret FROM internals")

    monkeypatch.setattr(services, "participant_set_muted", broken)
    await a.send({"type": "set_muted", "muted": True, "id": "m"})
    frame = await a.receive()
    event = await assert_error(frame, "internal_error", recovery="retry", in_reply_to="m")
    assert "secret" not in json.dumps(frame) and "RuntimeError" not in json.dumps(frame)
    # The internals go to the stored event only.
    assert "RuntimeError: SELECT secret FROM internals" in event.traceback
    await still_open(a)


async def test_unexpected_failure_outside_a_frame_closes_4011(joined_pair, monkeypatch):
    from signaling.consumers import LobbyConsumer

    _, a, b = joined_pair

    async def broken(self: Any, event: dict[str, Any]) -> None:
        raise KeyError("internal detail")

    monkeypatch.setattr(LobbyConsumer, "lobby_chat", broken)
    await a.send({"type": "chat", "text": "boom"})
    for client in (a, b):
        frame = await client.receive()
        await assert_error(frame, "internal_error", recovery="reconnect")
        assert "internal detail" not in json.dumps(frame)
        await client.expect_closed(4011)


async def test_a_change_from_an_earlier_join_is_dropped_as_stale(joined_pair):
    from lobbies import events
    from lobbies.presenters import participant_public

    lobby_id, a, b = joined_pair
    participant = await database_sync_to_async(lambda: Participant.objects.get(session_id=b.session_id))()
    stale = {**participant_public(participant), "status": "reconnecting"}
    # A sweep of a dead process announced Bob gone, but Bob has joined again since.
    await emit([events.participant_updated(lobby_id, stale, epoch="an-earlier-join")])
    await a.nothing_more()
    await b.nothing_more()
    # Relays to Bob still go through: Ann's view of him did not change.
    await a.send({"type": "relay_ice_candidate", "peer_id": b.session_id, "candidate": CANDIDATE})
    assert (await b.receive_type("ice_candidate"))["peer_id"] == a.session_id
    # The same change for his current join is shown to both.
    await emit([events.participant_updated(lobby_id, stale, epoch=participant.epoch)])
    for client in (a, b):
        assert (await client.receive_type("participant_updated"))["participant"]["status"] == "reconnecting"


async def test_the_end_of_an_earlier_join_does_not_unseat_a_later_one(ws, joined_pair):
    from lobbies import events

    lobby_id, a, b = joined_pair
    # The sweep timed out Bob's earlier join just as his new socket joined
    # again: the departure of that earlier join arrives after his new joined.
    await emit([events.participant_left(lobby_id, b.session_id, reason="timeout", epoch="an-earlier-join")])
    await a.nothing_more()
    await b.nothing_more()
    for sender, receiver in ((a, b), (b, a)):
        await sender.send({"type": "relay_ice_candidate", "peer_id": receiver.session_id, "candidate": CANDIDATE})
        assert (await receiver.receive_type("ice_candidate"))["peer_id"] == sender.session_id
    # The end of his current join does unseat him.
    epoch = await database_sync_to_async(lambda: Participant.objects.get(session_id=b.session_id).epoch)()
    await emit([events.participant_left(lobby_id, b.session_id, reason="timeout", epoch=epoch)])
    await a.receive_type("remove_peer")
    assert (await a.receive_type("participant_left"))["reason"] == "timeout"
    assert (await b.receive_type("participant_left"))["session_id"] == b.session_id
    await b.send({"type": "relay_ice_candidate", "peer_id": a.session_id, "candidate": CANDIDATE})
    await assert_error(await b.receive(), "not_joined")


async def test_the_in_memory_layer_delivers_into_the_inbox_and_an_idle_socket_waits_on_nothing_else(ws, settings):
    from channels.layers import get_channel_layer

    from signaling.inbox import inbox_local

    if settings.REDIS_URL:
        pytest.skip("the in-memory layer only")
    lobby_id = await make_lobby()
    a, _ = await open_joined(ws, lobby_id, "Ann")
    a_channel = await database_sync_to_async(lambda: Participant.objects.get(lobby_id=lobby_id).channel_name)()
    inbox = inbox_local(a_channel)
    assert inbox is not None
    layer = get_channel_layer()
    # No queue of the layer for this channel, no receive pending on it.
    assert a_channel not in layer.channels and inbox._layer_task is None
    # What the layer is asked to send to the channel arrives through the inbox, in order.
    b_id, _ = await make_session()
    await layer.send(a_channel, {"type": "lobby.chat", "chat": {"session_id": b_id, "name": "B", "text": "1", "ts": "t"}})
    await layer.send(a_channel, {"type": "lobby.chat", "chat": {"session_id": b_id, "name": "B", "text": "2", "ts": "t"}})
    assert [(await a.receive_type("chat"))["text"] for _ in range(2)] == ["1", "2"]
    assert a_channel not in layer.channels
    await a.nothing_more()


# --- Idempotent resends ------------------------------------------------------------


async def test_chat_resent_with_its_id_after_a_failed_broadcast_is_stored_once(joined_pair, monkeypatch):
    from resilience.channel_layer import channel_layer

    _, a, b = joined_pair
    layer = channel_layer().layer
    real_group_send = layer.group_send
    failures = iter([True])

    async def group_send_failing_once(group, message):
        if message["type"] == "lobby.chat" and next(failures, False):
            raise OSError("the channel layer dropped the connection")
        return await real_group_send(group, message)

    monkeypatch.setattr(layer, "group_send", group_send_failing_once)
    await a.send({"type": "chat", "text": "only once", "id": "c-7"})
    failed = await a.receive_type("error")
    await assert_error(failed, "service_unavailable", recovery="retry", in_reply_to="c-7")
    await b.nothing_more()
    # The client resends the same frame, as recovery "retry" says.
    await a.send({"type": "chat", "text": "only once", "id": "c-7"})
    seen = [await client.receive_type("chat") for client in (a, b)]
    assert {frame["text"] for frame in seen} == {"only once"} and seen[0]["id"] == seen[1]["id"]
    stored = await database_sync_to_async(lambda: list(ChatMessage.objects.values_list("text", flat=True)))()
    assert stored == ["only once"]
    # A new id is a new message, the same text or not.
    await a.send({"type": "chat", "text": "only once", "id": "c-8"})
    assert (await b.receive_type("chat"))["id"] != seen[0]["id"]
    assert await database_sync_to_async(ChatMessage.objects.count)() == 2


async def test_chat_without_id_is_never_deduplicated(joined_pair):
    _, a, b = joined_pair
    for _ in range(2):
        await a.send({"type": "chat", "text": "again"})
        await b.receive_type("chat")
    assert await database_sync_to_async(ChatMessage.objects.count)() == 2


# --- A stalled dependency ---------------------------------------------------------------


async def test_frames_that_waited_out_a_stalled_dependency_do_not_count_as_a_burst(joined_pair, settings, monkeypatch):
    import asyncio

    from resilience.channel_layer import channel_layer

    settings.VOICEBOT_FRAME_RATE = "30/1 second"
    _, a, b = joined_pair
    layer = channel_layer().layer
    real_group_send = layer.group_send

    async def stalled_group_send(group, message):
        if message["type"] == "lobby.participant_updated":
            await asyncio.sleep(2)  # the channel layer stalls
        return await real_group_send(group, message)

    monkeypatch.setattr(layer, "group_send", stalled_group_send)
    await a.send({"type": "set_muted", "muted": True})
    # During the stall the client goes on at 20 frames a second, within its rate.
    for i in range(40):
        await a.send({"type": "ping", "id": f"p{i}"})
        await asyncio.sleep(0.05)
    frames = [await a.receive() for _ in range(41)]
    assert sorted(f["type"] for f in frames) == ["participant_updated"] + ["pong"] * 40, [
        f for f in frames if f["type"] == "error"][:1]


async def test_relays_to_a_peer_of_this_process_do_not_wait_for_a_stalled_broadcast(joined_pair, monkeypatch):
    import asyncio

    from resilience.channel_layer import channel_layer

    _, a, b = joined_pair
    layer = channel_layer().layer
    real_group_send = layer.group_send

    async def stalled_group_send(group, message):
        if message["type"] == "lobby.participant_updated":
            await asyncio.sleep(2)  # the channel layer stalls
        return await real_group_send(group, message)

    monkeypatch.setattr(layer, "group_send", stalled_group_send)
    await a.send({"type": "set_muted", "muted": True})
    await asyncio.sleep(0.1)
    await a.send({"type": "relay_ice_candidate", "peer_id": b.session_id, "candidate": CANDIDATE})
    # The relay needs no channel layer: Bob has it while the broadcast still waits.
    assert (await b.receive(timeout=1.5))["type"] == "ice_candidate"
    assert (await b.receive(timeout=5))["type"] == "participant_updated"
    assert (await a.receive(timeout=5))["type"] == "participant_updated"


async def test_relays_are_counted_in_metrics_within_a_second(joined_pair, monkeypatch):
    from prometheus_client import REGISTRY

    from ops import metrics

    monkeypatch.setattr(metrics, "PUBLISH_AFTER", 0.2)
    _, a, b = joined_pair
    before = REGISTRY.get_sample_value("voicebot_frames_relayed_total") or 0.0
    for _ in range(3):
        await b.send({"type": "relay_ice_candidate", "peer_id": a.session_id, "candidate": CANDIDATE})
        await a.receive_type("ice_candidate")
    # A refused relay is not counted.
    await b.send({"type": "relay_ice_candidate", "peer_id": "nobody", "candidate": CANDIDATE})
    await assert_error(await b.receive(), "peer_not_found")
    await asyncio.sleep(0.4)
    assert REGISTRY.get_sample_value("voicebot_frames_relayed_total") == before + 3
