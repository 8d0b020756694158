"""What reaches the audit log from elsewhere: staff logins, rejected tokens, 4008 closes, origin refusals."""
from __future__ import annotations

import json

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.test import Client

from audit.testing import audit_events, audit_events_sync
from signaling.tests.test_consumers import make_lobby, make_session

TOKEN_SHAPED = "0123456789abcdef0123456789abcdef:1v2Xyz:AbCdEf-GhIjKl_MnOpQrStUvWxYz0123456789"


@pytest.mark.django_db
def test_staff_login_and_failed_login_are_audited_without_the_password() -> None:
    get_user_model().objects.create_user(username="ann", password="correct horse battery", is_staff=True)
    client = Client(REMOTE_ADDR="192.0.2.10")

    client.post("/admin/login/", {"username": "ann", "password": "wrong guess 77"})
    client.post("/admin/login/", {"username": "ann", "password": "correct horse battery"})

    failed, logged_in = audit_events_sync()
    assert (failed.kind, failed.actor, failed.address, failed.user_id) == ("staff_login_failed", "ann", "192.0.2.10",
                                                                         None)
    assert (logged_in.kind, logged_in.actor, logged_in.user.username) == ("staff_login", "ann", "ann")
    assert len(logged_in.correlation_id) == 32
    stored = json.dumps([failed.details, logged_in.details])
    assert "wrong guess" not in stored and "correct horse" not in stored


@pytest.mark.django_db
def test_a_rejected_token_over_http_is_audited_under_the_errors_correlation_id() -> None:
    response = Client(REMOTE_ADDR="198.51.100.3").post(
        "/api/lobbies", "{}", content_type="application/json", headers={"Authorization": f"Bearer {TOKEN_SHAPED}"})
    body = response.json()
    [event] = audit_events_sync(kind="token_rejected")
    assert (event.correlation_id, event.address, event.details["refused_because"]) == (body["correlation_id"], "198.51.100.3",
                                                                            "forged")
    assert TOKEN_SHAPED.split(":")[-1] not in json.dumps(event.details)


@pytest.mark.django_db
def test_a_missing_token_is_not_a_rejected_token() -> None:
    Client().post("/api/lobbies", "{}", content_type="application/json")
    assert audit_events_sync(kind="token_rejected") == []


@pytest.mark.django_db(transaction=True)
async def test_a_rejected_token_on_the_socket_is_audited(ws):
    lobby_id = await make_lobby()
    client = await ws(lobby_id, TOKEN_SHAPED)
    frame = await client.receive()
    await client.expect_closed(4001)
    [event] = await audit_events(kind="token_rejected")
    assert event.correlation_id == frame["correlation_id"] and event.address == "127.0.0.1"
    assert event.details["transport"] == "websocket"


@pytest.mark.django_db(transaction=True)
async def test_a_socket_closed_for_excess_is_audited(ws, settings):
    settings.VOICEBOT_BAD_FRAME_LIMIT = "3/10 seconds"
    lobby_id = await make_lobby()
    session_id, token = await make_session()
    client = await ws(lobby_id, token, session_id=session_id)
    for _ in range(4):
        await client.send({"type": "dance"})
    frames = [await client.receive() for _ in range(5)]
    await client.expect_closed(4008)
    [event] = await audit_events(kind="rate_limit_close")
    assert event.session_id == session_id and event.correlation_id == frames[-1]["correlation_id"]


@pytest.mark.django_db(transaction=True)
async def test_a_refused_origin_is_audited(ws, settings):
    settings.ALLOWED_HOSTS = ["127.0.0.1"]
    lobby_id = await make_lobby()
    _, token = await make_session()
    await ws(lobby_id, token, origin="http://127.0.0.1:9999", host="127.0.0.1:8000", expect_accept=False)
    [event] = await audit_events(kind="origin_refused")
    assert event.details == {"origin": "http://127.0.0.1:9999", "host": "127.0.0.1:8000"}
    assert token.split(":")[-1] not in event.target


@pytest.mark.django_db(transaction=True)
async def test_wrong_passwords_past_their_limit_are_audited(ws, settings):
    settings.VOICEBOT_PASSWORD_RATE = "1/1 minute"
    lobby_id = await make_lobby(password="pw")
    _, token = await make_session()
    client = await ws(lobby_id, token)
    for _ in range(2):
        await client.send({"type": "join", "name": "Ann", "password": "nope"})
        last = await client.receive()
    assert last["code"] == "rate_limited"
    [event] = await audit_events(kind="password_rate_limited")
    assert event.details["limit"] == "password.session" and event.correlation_id == last["correlation_id"]
    assert await database_sync_to_async(lambda: "nope" not in json.dumps(event.details))()
