"""Lobby passwords on the socket: checked off the database thread, wrong guesses limited per session and address."""
from __future__ import annotations

import threading

import pytest
from channels.db import database_sync_to_async

from lobbies import passwords, services
from lobbies.models import Participant
from signaling.tests.test_consumers import assert_error, make_lobby, make_session, still_open

pytestmark = pytest.mark.django_db(transaction=True)


async def join_frame(client, password, frame_id="j"):
    await client.send({"type": "join", "name": f"Guest {frame_id}", "password": password, "id": frame_id})
    return await client.receive()


async def test_the_password_is_hashed_on_its_own_thread_never_the_database_thread(ws, monkeypatch):
    threads: list[str] = []
    checked = passwords.check_password

    def recording_check(password: str, encoded: str) -> bool:
        threads.append(threading.current_thread().name)
        return checked(password, encoded)

    def refuse(*args, **kwargs):
        raise AssertionError("the password was hashed inside lobby_join, on the database thread")

    monkeypatch.setattr(passwords, "check_password", recording_check)
    monkeypatch.setattr(services, "check_password", refuse)
    lobby_id = await make_lobby(password="open sesame")
    _, token = await make_session()
    client = await ws(lobby_id, token)
    await assert_error(await join_frame(client, "wrong", "j1"), "invalid_lobby_password", in_reply_to="j1")
    joined = await join_frame(client, "open sesame", "j2")
    assert joined["type"] == "joined" and joined["in_reply_to"] == "j2"
    assert len(threads) == 2 and all(name.startswith("voicebot-password") for name in threads)


async def test_wrong_passwords_of_a_session_are_then_rate_limited(ws, settings):
    settings.VOICEBOT_PASSWORD_RATE = "3/1 minute"
    lobby_id = await make_lobby(password="open sesame")
    _, token = await make_session()
    client = await ws(lobby_id, token)
    for attempt in range(3):
        await assert_error(await join_frame(client, f"guess {attempt}", f"g{attempt}"), "invalid_lobby_password",
                           in_reply_to=f"g{attempt}")
    limited = await join_frame(client, "open sesame", "g3")
    await assert_error(limited, "rate_limited", recovery="retry", in_reply_to="g3")
    assert 1 <= limited["retry_after"] <= 60
    assert await database_sync_to_async(Participant.objects.count)() == 0
    await still_open(client)


async def test_wrong_passwords_from_one_address_limit_its_other_sessions(ws, settings):
    settings.VOICEBOT_PASSWORD_ADDRESS_RATE = "4/1 minute"
    lobby_id = await make_lobby(password="open sesame")
    for attempt in range(4):
        _, token = await make_session()
        client = await ws(lobby_id, token)
        await assert_error(await join_frame(client, "guess", f"a{attempt}"), "invalid_lobby_password",
                           in_reply_to=f"a{attempt}")
    _, token = await make_session()
    fresh = await ws(lobby_id, token)
    await assert_error(await join_frame(fresh, "open sesame", "a4"), "rate_limited", in_reply_to="a4")


async def test_a_missing_password_is_refused_without_hashing(ws, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("nothing to hash")

    monkeypatch.setattr(passwords, "check_password", refuse)
    lobby_id = await make_lobby(password="open sesame")
    _, token = await make_session()
    client = await ws(lobby_id, token)
    await assert_error(await join_frame(client, None), "invalid_lobby_password", in_reply_to="j")


async def test_a_resume_needs_no_password_and_no_hashing(ws, monkeypatch):
    lobby_id = await make_lobby(password="open sesame")
    session_id, token = await make_session()
    client = await ws(lobby_id, token)
    assert (await join_frame(client, "open sesame"))["type"] == "joined"
    await client.close()

    def refuse(*args, **kwargs):
        raise AssertionError("a resume hashed the password")

    monkeypatch.setattr(passwords, "check_password", refuse)
    again = await ws(lobby_id, token)
    joined = await join_frame(again, None, "r")
    assert joined["type"] == "joined" and joined["resumed"] is True
