"""The lobby socket's bot frames through the real ASGI stack: set_bot_state, a bot's chat and
transcripts, a bot removed while connected; bot-only frames refused from people."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from channels.db import database_sync_to_async

from bots import services
from bots.models import Bot
from errors.testing import stored_events
from lobbies.models import ChatMessage
from lobbies.services import session_create

pytestmark = pytest.mark.django_db(transaction=True)


def make_bot(lobby_id: str, kind: str = "echo", name: str = "Echo") -> tuple[str, str]:
    session, token = session_create(name=name, is_bot=True)
    Bot.objects.create(session=session, lobby_id=lobby_id, kind=kind)
    return session.id, token


async def bot_joins(ws: Callable[..., Any], lobby_id: str, humans: list[Any]) -> Any:
    """The bot joins; each person sees it join (with its add_peer); returns its socket."""
    bot_id, token = await database_sync_to_async(make_bot)(lobby_id)
    bot = await ws(lobby_id, token, session_id=bot_id)
    await bot.send({"type": "join", "id": "j"})
    joined = await bot.receive_type("joined")
    assert joined["self"]["bot"] == {"kind": "echo", "profile": None, "state": "starting"}
    for _ in humans:
        await bot.receive_type("add_peer")
    for human in humans:
        frame = await human.receive_type("participant_joined")
        assert frame["participant"] == {"session_id": bot_id, "name": "Echo", "is_bot": True, "muted": False,
                                        "status": "connected",
                                        "bot": {"kind": "echo", "profile": None, "state": "starting"}}
        await human.receive_type("add_peer")
    return bot


async def assert_refused(client: Any, code: str, frame_id: str) -> dict[str, Any]:
    error = await client.receive_type("error")
    assert (error["code"], error["in_reply_to"]) == (code, frame_id), error
    [event] = await stored_events(correlation_id=error["correlation_id"])
    assert event.group.code == code
    return error


async def test_a_bots_state_reaches_everyone_once_per_change(ws: Callable[..., Any], joined_pair: Any) -> None:
    lobby_id, ann, bob = joined_pair
    bot = await bot_joins(ws, lobby_id, [ann, bob])
    await bot.send({"type": "set_bot_state", "state": "listening"})
    for client in (ann, bob, bot):
        frame = await client.receive_type("participant_updated")
        assert frame["participant"]["bot"]["state"] == "listening"
    # The same state again changes nothing and says nothing.
    await bot.send({"type": "set_bot_state", "state": "listening"})
    await bot.send({"type": "set_bot_state", "state": "speaking"})
    assert (await ann.receive_type("participant_updated"))["participant"]["bot"]["state"] == "speaking"
    assert await database_sync_to_async(lambda: Bot.objects.get().state)() == "speaking"


@pytest.mark.parametrize("state", [None, 5, "", "asleep", "LISTENING", "listening\x00", "\ud800", "x" * 10_000])
async def test_a_state_outside_the_protocol_is_invalid_message(ws: Callable[..., Any], joined_pair: Any,
                                                               state: Any) -> None:
    lobby_id, ann, bob = joined_pair
    bot = await bot_joins(ws, lobby_id, [ann, bob])
    await bot.send({"type": "set_bot_state", "id": "s", "state": state})
    await assert_refused(bot, "invalid_message", "s")
    await ann.nothing_more()


async def test_bot_only_frames_are_forbidden_to_people(joined_pair: Any) -> None:
    lobby_id, ann, bob = joined_pair
    await ann.send({"type": "set_bot_state", "id": "1", "state": "speaking"})
    error = await assert_refused(ann, "forbidden", "1")
    assert error["category"] == "auth"
    await ann.send({"type": "chat", "id": "2", "text": "I said so", "transcript": {"speaker_session_id": bob.session_id}})
    await assert_refused(ann, "forbidden", "2")
    await bob.nothing_more()
    # The socket stays open and in the lobby.
    await ann.send({"type": "chat", "text": "still here"})
    assert (await bob.receive_type("chat"))["text"] == "still here"
    assert "is_bot" not in (await ann.receive_type("chat"))


async def test_set_bot_state_before_joining_is_not_joined(ws: Callable[..., Any], new_lobby: Any) -> None:
    lobby_id = await database_sync_to_async(new_lobby)()
    bot_id, token = await database_sync_to_async(make_bot)(lobby_id)
    bot = await ws(lobby_id, token, session_id=bot_id)
    await bot.send({"type": "set_bot_state", "id": "s", "state": "listening"})
    await assert_refused(bot, "not_joined", "s")


async def test_a_bots_chat_and_transcripts_are_marked_and_kept_in_history(
    ws: Callable[..., Any], joined_pair: Any, new_session: Any
) -> None:
    lobby_id, ann, bob = joined_pair
    bot = await bot_joins(ws, lobby_id, [ann, bob])
    await bot.send({"type": "chat", "text": "Hello, I repeat what you say."})
    await bot.send({"type": "chat", "text": "can you hear me", "transcript": {"speaker_session_id": ann.session_id}})
    for client in (ann, bob, bot):
        said = await client.receive_type("chat")
        assert (said["is_bot"], said["text"], "transcript" in said) == (True, "Hello, I repeat what you say.", False)
        heard = await client.receive_type("chat")
        assert (heard["session_id"], heard["name"], heard["is_bot"], heard["transcript"]) == (
            bot.session_id, "Echo", True, {"speaker_session_id": ann.session_id})
    # A bot may transcribe itself (an assistant's own answers).
    await bot.send({"type": "chat", "text": "me", "transcript": {"speaker_session_id": bot.session_id}})
    assert (await ann.receive_type("chat"))["transcript"] == {"speaker_session_id": bot.session_id}
    stored = await database_sync_to_async(
        lambda: list(ChatMessage.objects.values_list("is_bot", "transcript_speaker_id")))()
    assert stored == [(True, ""), (True, ann.session_id), (True, bot.session_id)]
    # Who joins next gets them in the history, as they were sent.
    cleo_id, cleo_token = await database_sync_to_async(new_session)()
    cleo = await ws(lobby_id, cleo_token, session_id=cleo_id)
    history = (await cleo.join("Cleo"))["chat_history"]
    assert [(m.get("is_bot"), m.get("transcript")) for m in history] == [
        (True, None), (True, {"speaker_session_id": ann.session_id}), (True, {"speaker_session_id": bot.session_id})]


@pytest.mark.parametrize("transcript", [
    "ann", 5, [], {}, {"speaker_session_id": 5}, {"speaker_session_id": None}, {"speaker_session_id": ""},
    {"speaker_session_id": "f" * 32}, {"speaker_session_id": "\ud800"}, {"speaker": "x"},
])
async def test_a_transcript_must_name_a_participant_of_the_lobby(
    ws: Callable[..., Any], joined_pair: Any, transcript: Any
) -> None:
    lobby_id, ann, bob = joined_pair
    bot = await bot_joins(ws, lobby_id, [ann, bob])
    await bot.send({"type": "chat", "id": "t", "text": "words", "transcript": transcript})
    await assert_refused(bot, "invalid_message", "t")
    await ann.nothing_more()
    assert not await database_sync_to_async(ChatMessage.objects.exists)()


async def test_a_transcript_naming_someone_of_another_lobby_is_refused(
    ws: Callable[..., Any], joined_pair: Any, new_lobby: Any, new_session: Any
) -> None:
    lobby_id, ann, bob = joined_pair
    bot = await bot_joins(ws, lobby_id, [ann, bob])
    elsewhere = await database_sync_to_async(new_lobby)()
    dan_id, dan_token = await database_sync_to_async(new_session)()
    dan = await ws(elsewhere, dan_token, session_id=dan_id)
    await dan.join("Dan")
    await bot.send({"type": "chat", "id": "t", "text": "words", "transcript": {"speaker_session_id": dan_id}})
    await assert_refused(bot, "invalid_message", "t")


async def test_a_bot_removed_while_connected_is_told_and_its_socket_stays_open(
    ws: Callable[..., Any], joined_pair: Any
) -> None:
    lobby_id, ann, bob = joined_pair
    bot = await bot_joins(ws, lobby_id, [ann, bob])
    emitted = await database_sync_to_async(services.bot_remove)(
        lobby_id=lobby_id, session_id=ann.session_id, bot_session_id=bot.session_id)
    from lobbies.events import emit

    await emit(emitted)
    for client in (ann, bob):
        assert (await client.receive_type("remove_peer"))["peer_id"] == bot.session_id
        assert await client.receive_type("participant_left") == {
            "type": "participant_left", "session_id": bot.session_id, "reason": "left"}
    assert await bot.receive_type("participant_left") == {
        "type": "participant_left", "session_id": bot.session_id, "reason": "left"}
    await bot.send({"type": "ping", "id": "p"})
    assert (await bot.receive_type("pong"))["in_reply_to"] == "p"


async def test_a_removed_bots_next_socket_is_refused(ws: Callable[..., Any], new_lobby: Any) -> None:
    lobby_id = await database_sync_to_async(new_lobby)()
    bot_id, token = await database_sync_to_async(make_bot)(lobby_id)
    await database_sync_to_async(lambda: Bot.objects.all().delete())()
    bot = await ws(lobby_id, token, session_id=bot_id)
    await bot.send({"type": "join", "id": "j"})
    error = await bot.receive_type("error")
    assert error["code"] == "unauthenticated"
    await bot.expect_closed(4001)


async def test_a_bot_joins_a_full_lobby_and_takes_no_seat(ws: Callable[..., Any], new_lobby: Any,
                                                          new_session: Any) -> None:
    lobby_id = await database_sync_to_async(new_lobby)(max_participants=2)
    people = []
    for name in ("Ann", "Bob"):
        session_id, token = await database_sync_to_async(new_session)()
        person = await ws(lobby_id, token, session_id=session_id)
        await person.join(name)
        people.append(person)
    await people[0].receive_type("participant_joined")
    await people[0].receive_type("add_peer")
    await people[1].receive_type("add_peer")
    bot = await bot_joins(ws, lobby_id, people)
    cleo_id, cleo_token = await database_sync_to_async(new_session)()
    cleo = await ws(lobby_id, cleo_token, session_id=cleo_id)
    await cleo.send({"type": "join", "name": "Cleo"})
    # Two people in two seats: the bot took none, Cleo waits for one.
    assert (await cleo.receive_type("waiting_for_seat"))["position"] == 1
    assert (await cleo.receive_type("error"))["code"] == "lobby_full"
    await bot.send({"type": "set_bot_state", "state": "listening"})
    assert (await people[0].receive_type("participant_updated"))["participant"]["bot"]["state"] == "listening"


async def test_a_bot_mutes_another_participant_never_unmutes_and_people_cannot(
    ws: Callable[..., Any], joined_pair: Any
) -> None:
    lobby_id, ann, bob = joined_pair
    bot = await bot_joins(ws, lobby_id, [ann, bob])
    await bot.send({"type": "set_muted", "muted": True, "peer_id": ann.session_id})
    for client in (ann, bob, bot):
        frame = await client.receive_type("participant_updated")
        assert frame["participant"]["session_id"] == ann.session_id
        assert frame["participant"]["muted"] is True
    # Unmuting someone else, a peer that is not there, itself: refused, stored, the socket stays.
    await bot.send({"type": "set_muted", "muted": False, "peer_id": ann.session_id, "id": "u"})
    await assert_refused(bot, "invalid_message", "u")
    await bot.send({"type": "set_muted", "muted": True, "peer_id": "f" * 32, "id": "n"})
    await assert_refused(bot, "peer_not_found", "n")
    await bot.send({"type": "set_muted", "muted": True, "peer_id": bot.session_id, "id": "s"})
    await assert_refused(bot, "peer_not_found", "s")
    # A person cannot mute someone else.
    await bob.send({"type": "set_muted", "muted": True, "peer_id": ann.session_id, "id": "p"})
    await assert_refused(bob, "forbidden", "p")
    await ann.send({"type": "ping", "id": "still"})
    assert (await ann.receive_type("pong"))["in_reply_to"] == "still"
