"""The JSON API through Django's test client: answers, and what each kind of bad input gets."""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.conf import global_settings
from django.contrib.auth.hashers import check_password
from django.test import override_settings
from django.utils import timezone

from lobbies.models import GuestSession, Lobby, Participant
from lobbies.tests.conftest import Api, StoredErrors, assert_error_body, token_issued_ago
from lobbies.tokens import session_token_verify

pytestmark = pytest.mark.django_db

LOBBY_FIELDS = {"id", "name", "description", "private", "has_password", "max_participants", "participant_count",
                "created_at", "locked"}
PARTICIPANT_FIELDS = {"session_id", "name", "is_bot", "muted", "status"}


def create_lobby(api: Api, token: str, **fields: Any) -> dict[str, Any]:
    fields.setdefault("name", "Friday call")
    response = api.post("/api/lobbies", fields, token=token)
    assert response.status_code == 201, response.content
    return response.json()


# --- POST /api/sessions ----------------------------------------------------


def test_session_create_without_body_answers_id_token_and_null_name(api: Api) -> None:
    response = api.post("/api/sessions")

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"session_id", "token", "name"}
    assert body["name"] is None
    assert len(body["session_id"]) == 32
    assert session_token_verify(body["token"]) == body["session_id"]
    stored = GuestSession.objects.get(pk=body["session_id"])
    assert stored.name == "" and stored.is_bot is False


def test_session_create_trims_and_stores_the_default_name(api: Api) -> None:
    response = api.post("/api/sessions", {"name": "  Ann  "})

    assert response.status_code == 201
    assert response.json()["name"] == "Ann"
    assert GuestSession.objects.get(pk=response.json()["session_id"]).name == "Ann"


def test_session_create_with_null_name_has_no_default_name(api: Api) -> None:
    response = api.post("/api/sessions", {"name": None})

    assert response.status_code == 201
    assert response.json()["name"] is None


def test_session_token_is_not_stored(api: Api) -> None:
    body = api.post("/api/sessions").json()

    session = GuestSession.objects.get(pk=body["session_id"])
    assert body["token"] not in json.dumps([str(getattr(session, f.attname)) for f in session._meta.fields])


@pytest.mark.parametrize(
    "name",
    ["", "   ", "x" * 33, 42, True, ["Ann"], {"n": "Ann"}, "Ann\x00", "Ann\nBob", "Ann\u202eBob", "A\u200bnn"],
    ids=["empty", "spaces", "33-chars", "number", "bool", "list", "object", "nul", "newline", "bidi-override",
         "zero-width-space"],
)
def test_session_create_with_bad_name_is_invalid_name(api: Api, stored_errors: StoredErrors, name: Any) -> None:
    response = api.post("/api/sessions", {"name": name})

    body = assert_error_body(response, status=400, code="invalid_name")
    assert body["category"] == "validation" and body["recovery"] == "none" and body["retry_after"] is None
    stored_errors.event(body)
    assert GuestSession.objects.count() == 0


def test_session_create_accepts_32_characters_after_trimming(api: Api) -> None:
    response = api.post("/api/sessions", {"name": "  " + "é" * 32 + "  "})

    assert response.status_code == 201
    assert response.json()["name"] == "é" * 32


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("{", "invalid_json"),
        ("{'name': 'Ann'}", "invalid_json"),
        ("NaN-ish", "invalid_json"),
        (b"\xff\xfe\xfa", "invalid_json"),
        ("[1, 2]", "invalid_message"),
        ('"Ann"', "invalid_message"),
        ("42", "invalid_message"),
        ("null", "invalid_message"),
    ],
    ids=["truncated", "single-quotes", "garbage", "not-utf8", "array", "string", "number", "null"],
)
def test_session_create_with_body_that_is_not_a_json_object(
    api: Api, stored_errors: StoredErrors, raw: Any, code: str
) -> None:
    response = api.post("/api/sessions", raw=raw)

    body = assert_error_body(response, status=400, code=code)
    assert body["category"] == "validation"
    stored_errors.event(body)
    assert GuestSession.objects.count() == 0


def test_form_encoded_body_is_invalid_json(api: Api, stored_errors: StoredErrors) -> None:
    response = api.client.post("/api/sessions", {"name": "Ann"})

    body = assert_error_body(response, status=400, code="invalid_json")
    stored_errors.event(body)
    assert GuestSession.objects.count() == 0


def test_deeply_nested_json_body_is_invalid_json_not_a_server_error(api: Api, stored_errors: StoredErrors) -> None:
    raw = "[" * 30_000 + "]" * 30_000

    body = assert_error_body(api.post("/api/sessions", raw=raw), status=400, code="invalid_json")

    stored_errors.event(body)
    assert GuestSession.objects.count() == 0


def test_body_over_64_kib_is_message_too_large(api: Api, stored_errors: StoredErrors) -> None:
    raw = json.dumps({"name": "Ann", "padding": "x" * (64 * 1024)})

    body = assert_error_body(api.post("/api/sessions", raw=raw), status=413, code="message_too_large")

    assert body["category"] == "websocket" and body["recovery"] == "none"
    stored_errors.event(body)
    assert GuestSession.objects.count() == 0


def test_body_of_exactly_64_kib_is_accepted(api: Api) -> None:
    prefix, suffix = '{"name": "Ann", "padding": "', '"}'
    raw = prefix + "x" * (64 * 1024 - len(prefix) - len(suffix)) + suffix
    assert len(raw) == 64 * 1024

    assert api.post("/api/sessions", raw=raw).status_code == 201


def test_body_over_djangos_upload_ceiling_is_message_too_large(api: Api, stored_errors: StoredErrors) -> None:
    raw = json.dumps({"padding": "x" * (3 * 1024 * 1024)})

    body = assert_error_body(api.post("/api/sessions", raw=raw), status=413, code="message_too_large")

    stored_errors.event(body)
    assert GuestSession.objects.count() == 0


def test_session_create_rate_limit_answers_429_with_retry_after(api: Api, stored_errors: StoredErrors) -> None:
    with override_settings(VOICEBOT_SESSION_RATE="3/1 minute"):
        for _ in range(3):
            assert api.post("/api/sessions").status_code == 201
        response = api.post("/api/sessions")

    body = assert_error_body(response, status=429, code="rate_limited")
    assert body["recovery"] == "retry"
    assert isinstance(body["retry_after"], float) and 1 <= body["retry_after"] <= 60
    assert 1 <= int(response["Retry-After"]) <= 60
    assert int(response["Retry-After"]) >= body["retry_after"]
    stored_errors.event(body)
    assert GuestSession.objects.count() == 3


def test_session_create_rate_limit_is_per_client_address(api: Api) -> None:
    with override_settings(VOICEBOT_SESSION_RATE="1/1 minute"):
        assert api.client.post("/api/sessions", content_type="application/json", REMOTE_ADDR="10.0.0.1").status_code == 201
        assert api.client.post("/api/sessions", content_type="application/json", REMOTE_ADDR="10.0.0.1").status_code == 429
        assert api.client.post("/api/sessions", content_type="application/json", REMOTE_ADDR="10.0.0.2").status_code == 201

    assert GuestSession.objects.count() == 2


def test_session_create_rate_limit_counts_requests_with_a_bad_body(api: Api, stored_errors: StoredErrors) -> None:
    with override_settings(VOICEBOT_SESSION_RATE="1/1 minute"):
        assert_error_body(api.post("/api/sessions", raw="{"), status=400, code="invalid_json")
        body = assert_error_body(api.post("/api/sessions"), status=429, code="rate_limited")

    stored_errors.event(body)
    assert GuestSession.objects.count() == 0


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
def test_sessions_with_another_method_is_method_not_allowed(api: Api, stored_errors: StoredErrors, method: str) -> None:
    response = api.request(method, "/api/sessions")
    assert response["Allow"] == "POST"
    body = assert_error_body(response, status=405, code="method_not_allowed")

    stored_errors.event(body)
    assert GuestSession.objects.count() == 0


# --- GET/POST /api/lobbies -------------------------------------------------


def test_lobby_create_answers_the_lobby_with_defaults(api: Api, new_session: Callable[..., tuple[str, str]]) -> None:
    session_id, token = new_session()

    response = api.post("/api/lobbies", {"name": "  Friday call "}, token=token)

    assert response.status_code == 201
    body = response.json()
    assert set(body) == LOBBY_FIELDS
    assert body | {"id": None, "created_at": None} == {
        "id": None, "name": "Friday call", "description": "", "private": False, "has_password": False,
        "max_participants": 8, "participant_count": 0, "created_at": None, "locked": False,
    }
    stored = Lobby.objects.get(pk=body["id"])
    assert stored.created_by_id == session_id
    assert stored.empty_since is not None, "a new lobby is empty until someone joins"
    assert stored.name == "Friday call" and stored.password_hash == "" and stored.closed_at is None
    assert body["created_at"] == stored.created_at.isoformat()


def test_lobby_create_with_every_field(api: Api, new_session: Callable[..., tuple[str, str]]) -> None:
    _, token = new_session()

    body = create_lobby(api, token, name="Quiet room", private=True, password="hunter2", max_participants=16)

    assert body["private"] is True and body["has_password"] is True and body["max_participants"] == 16


def test_lobby_password_is_stored_hashed_and_never_answered(
    api: Api, new_session: Callable[..., tuple[str, str]]
) -> None:
    _, token = new_session()

    with override_settings(PASSWORD_HASHERS=global_settings.PASSWORD_HASHERS):
        response = api.post("/api/lobbies", {"name": "Secret", "password": "correct horse"}, token=token)

    assert b"correct horse" not in response.content
    stored = Lobby.objects.get(pk=response.json()["id"])
    assert "correct horse" not in stored.password_hash
    assert stored.password_hash.startswith("pbkdf2_sha256$")
    with override_settings(PASSWORD_HASHERS=global_settings.PASSWORD_HASHERS):
        assert check_password("correct horse", stored.password_hash)
        assert not check_password("wrong", stored.password_hash)
    detail = api.get(f"/api/lobbies/{stored.id}", token=token)
    assert b"correct horse" not in detail.content and stored.password_hash.encode() not in detail.content


def test_lobby_with_empty_password_has_no_password(api: Api, new_session: Callable[..., tuple[str, str]]) -> None:
    _, token = new_session()

    body = create_lobby(api, token, password="")

    assert body["has_password"] is False
    assert Lobby.objects.get(pk=body["id"]).password_hash == ""


@pytest.mark.parametrize("size", [2, 16])
def test_lobby_create_accepts_the_max_participants_bounds(
    api: Api, new_session: Callable[..., tuple[str, str]], size: int
) -> None:
    _, token = new_session()

    assert create_lobby(api, token, max_participants=size)["max_participants"] == size


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"name": None},
        {"name": 7},
        {"name": ["Room"]},
        {"name": ""},
        {"name": "    "},
        {"name": "x" * 65},
        {"name": "Room\x07"},
        {"name": "Room\u2066"},
        {"name": "Room", "private": "yes"},
        {"name": "Room", "private": 1},
        {"name": "Room", "private": None},
        {"name": "Room", "password": 1234},
        {"name": "Room", "password": ["a"]},
        {"name": "Room", "password": "p" * 129},
        {"name": "Room", "password": "\ud800"},
        {"name": "Room", "password": "x\udc00y"},
        {"name": "Room", "max_participants": 1},
        {"name": "Room", "max_participants": 17},
        {"name": "Room", "max_participants": 0},
        {"name": "Room", "max_participants": -3},
        {"name": "Room", "max_participants": "8"},
        {"name": "Room", "max_participants": 8.0},
        {"name": "Room", "max_participants": True},
        {"name": "Room", "max_participants": None},
    ],
    ids=[
        "no-name", "null-name", "number-name", "list-name", "empty-name", "blank-name", "65-char-name",
        "bell-in-name", "isolate-in-name", "private-string", "private-int", "private-null", "password-number",
        "password-list", "password-129", "password-lone-surrogate", "password-lone-low-surrogate", "max-1", "max-17", "max-0", "max-negative", "max-string", "max-float",
        "max-bool", "max-null",
    ],
)
def test_lobby_create_with_bad_field_is_invalid_message(
    api: Api, stored_errors: StoredErrors, new_session: Callable[..., tuple[str, str]], fields: dict[str, Any]
) -> None:
    _, token = new_session()

    response = api.post("/api/lobbies", fields, token=token)

    body = assert_error_body(response, status=400, code="invalid_message")
    assert body["category"] == "validation" and body["severity"] == "low" and body["recovery"] == "none"
    stored_errors.event(body)
    assert Lobby.objects.count() == 0


def test_lobby_create_accepts_a_128_character_password(api: Api, new_session: Callable[..., tuple[str, str]]) -> None:
    _, token = new_session()

    body = create_lobby(api, token, password="p" * 128)

    assert check_password("p" * 128, Lobby.objects.get(pk=body["id"]).password_hash)


def test_lobby_create_rejects_non_object_and_invalid_json(
    api: Api, stored_errors: StoredErrors, new_session: Callable[..., tuple[str, str]]
) -> None:
    _, token = new_session()

    not_json = assert_error_body(api.post("/api/lobbies", raw="{name:", token=token), status=400, code="invalid_json")
    array = assert_error_body(api.post("/api/lobbies", raw='["Room"]', token=token), status=400,
                              code="invalid_message")
    too_large = assert_error_body(
        api.post("/api/lobbies", raw=json.dumps({"name": "x" * (65 * 1024)}), token=token),
        status=413, code="message_too_large",
    )

    for body in (not_json, array, too_large):
        stored_errors.event(body)
    assert Lobby.objects.count() == 0


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer", "Bearer ", "Bearer not-a-token", "Token {token}", "Basic {token}", "{token}",
     "Bearer {token}x", "Bearer x{token}"],
    ids=["missing", "bearer-only", "bearer-empty", "forged", "token-scheme", "basic-scheme", "no-scheme",
         "tampered-end", "tampered-start"],
)
def test_lobby_create_without_a_valid_bearer_token_is_unauthenticated(
    api: Api, stored_errors: StoredErrors, new_session: Callable[..., tuple[str, str]], authorization: str | None
) -> None:
    _, token = new_session()
    headers = {} if authorization is None else {"Authorization": authorization.format(token=token)}

    response = api.post("/api/lobbies", {"name": "Room"}, headers=headers)

    body = assert_error_body(response, status=401, code="unauthenticated")
    assert body["category"] == "auth" and body["severity"] == "medium" and body["recovery"] == "reauthenticate"
    event = stored_errors.event(body)
    for text in (json.dumps(body), json.dumps(event.context), event.path, event.message, event.traceback):
        assert token not in text
    assert Lobby.objects.count() == 0


def test_lobby_create_with_an_expired_token_is_unauthenticated(
    api: Api, stored_errors: StoredErrors, new_session: Callable[..., tuple[str, str]]
) -> None:
    session_id, _ = new_session()
    token = token_issued_ago(session_id, 3600)

    with override_settings(VOICEBOT_TOKEN_MAX_AGE=60):
        response = api.post("/api/lobbies", {"name": "Room"}, token=token)

    body = assert_error_body(response, status=401, code="unauthenticated")
    assert "expired" in body["message"]
    stored_errors.event(body)
    assert Lobby.objects.count() == 0


def test_lobby_create_with_the_token_of_a_deleted_session_is_unauthenticated(
    api: Api, stored_errors: StoredErrors, new_session: Callable[..., tuple[str, str]]
) -> None:
    session_id, token = new_session()
    GuestSession.objects.filter(pk=session_id).delete()

    body = assert_error_body(api.post("/api/lobbies", {"name": "Room"}, token=token), status=401,
                             code="unauthenticated")

    stored_errors.event(body)
    assert Lobby.objects.count() == 0


def test_lobby_create_checks_the_token_before_the_body(api: Api) -> None:
    response = api.post("/api/lobbies", raw="{not json")

    assert_error_body(response, status=401, code="unauthenticated")


def test_lobby_list_shows_open_public_lobbies_with_their_counts(
    api: Api, new_session: Callable[..., tuple[str, str]], join: Callable[..., Participant]
) -> None:
    owner, token = new_session()
    public = create_lobby(api, token, name="Public")
    with_password = create_lobby(api, token, name="Locked", password="pw")
    create_lobby(api, token, name="Hidden", private=True)
    closed = create_lobby(api, token, name="Gone")
    Lobby.objects.filter(pk=closed["id"]).update(closed_at=timezone.now())
    join(public["id"], owner, "Ann")
    join(public["id"], new_session()[0], "Bob")

    response = api.get("/api/lobbies")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"lobbies", "q", "page", "per_page", "pages", "total"}
    assert (body["total"], body["page"], body["pages"]) == (2, 1, 1)
    listed = {lobby["id"]: lobby for lobby in body["lobbies"]}
    assert set(listed) == {public["id"], with_password["id"]}
    assert all(set(lobby) == LOBBY_FIELDS for lobby in body["lobbies"])
    assert listed[public["id"]] == public | {"participant_count": 2}
    assert listed[with_password["id"]]["has_password"] is True


def test_lobby_list_needs_no_token_and_ignores_a_valid_one(
    api: Api, new_session: Callable[..., tuple[str, str]]
) -> None:
    _, token = new_session()
    create_lobby(api, token)

    assert len(api.get("/api/lobbies").json()["lobbies"]) == 1
    assert len(api.get("/api/lobbies", token=token).json()["lobbies"]) == 1


def test_lobby_list_with_no_lobbies_is_empty(api: Api) -> None:
    response = api.get("/api/lobbies/")

    assert response.status_code == 200
    assert response.json() == {"lobbies": [], "q": "", "page": 1, "per_page": 20, "pages": 1, "total": 0}


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_lobbies_with_another_method_is_method_not_allowed(
    api: Api, stored_errors: StoredErrors, new_session: Callable[..., tuple[str, str]], method: str
) -> None:
    _, token = new_session()

    response = api.request(method, "/api/lobbies", token=token)
    assert response["Allow"] == "GET, POST"
    body = assert_error_body(response, status=405, code="method_not_allowed")

    stored_errors.event(body)


# --- GET /api/lobbies/<id> -------------------------------------------------


def test_lobby_detail_lists_participants_in_join_order(
    api: Api, new_session: Callable[..., tuple[str, str]], join: Callable[..., Participant]
) -> None:
    ann, token = new_session()
    lobby = create_lobby(api, token)
    bob, _ = new_session()
    join(lobby["id"], ann, "Ann")
    join(lobby["id"], bob, "Bob")
    Participant.objects.filter(session_id=bob).update(muted=True)

    response = api.get(f"/api/lobbies/{lobby['id']}")

    assert response.status_code == 200
    body = response.json()
    assert set(body) >= LOBBY_FIELDS | {"participants"}
    assert body["participant_count"] == 2
    assert body["participants"] == [
        {"session_id": ann, "name": "Ann", "is_bot": False, "muted": False, "status": "connected"},
        {"session_id": bob, "name": "Bob", "is_bot": False, "muted": True, "status": "connected"},
    ]
    assert all(set(p) == PARTICIPANT_FIELDS for p in body["participants"])


def test_lobby_detail_accepts_a_trailing_slash(api: Api, new_lobby: Callable[..., str]) -> None:
    lobby_id = new_lobby()

    assert api.get(f"/api/lobbies/{lobby_id}/").json()["id"] == lobby_id


def test_private_lobby_is_unlisted_but_reachable_by_id(
    api: Api, new_session: Callable[..., tuple[str, str]]
) -> None:
    _, token = new_session()
    lobby = create_lobby(api, token, name="Private", private=True)

    assert api.get("/api/lobbies").json()["lobbies"] == []
    detail = api.get(f"/api/lobbies/{lobby['id']}")
    assert detail.status_code == 200
    assert detail.json()["private"] is True and detail.json()["name"] == "Private"


def test_password_lobby_hides_participants_from_outsiders(
    api: Api, new_session: Callable[..., tuple[str, str]], join: Callable[..., Participant]
) -> None:
    ann, ann_token = new_session()
    lobby = create_lobby(api, ann_token, password="pw")
    join(lobby["id"], ann, "Ann", password="pw")
    _, outsider_token = new_session()

    anonymous = api.get(f"/api/lobbies/{lobby['id']}").json()
    outsider = api.get(f"/api/lobbies/{lobby['id']}", token=outsider_token).json()
    insider = api.get(f"/api/lobbies/{lobby['id']}", token=ann_token).json()

    for hidden in (anonymous, outsider):
        assert hidden["participants"] == [] and hidden["participants_hidden"] is True
        assert hidden["participant_count"] == 1 and hidden["has_password"] is True
        assert "Ann" not in json.dumps(hidden)
    assert insider["participants_hidden"] is False
    assert [p["name"] for p in insider["participants"]] == ["Ann"]


def test_lobby_without_password_shows_participants_to_anyone(
    api: Api, new_lobby: Callable[..., str], new_session: Callable[..., tuple[str, str]],
    join: Callable[..., Participant],
) -> None:
    lobby_id = new_lobby()
    join(lobby_id, new_session()[0], "Ann")

    body = api.get(f"/api/lobbies/{lobby_id}").json()

    assert body["participants_hidden"] is False and [p["name"] for p in body["participants"]] == ["Ann"]


def test_lobby_detail_with_a_forged_token_is_unauthenticated(
    api: Api, stored_errors: StoredErrors, new_lobby: Callable[..., str]
) -> None:
    lobby_id = new_lobby()

    body = assert_error_body(api.get(f"/api/lobbies/{lobby_id}", token="forged"), status=401,
                             code="unauthenticated")

    stored_errors.event(body)


def test_unknown_lobby_is_lobby_not_found(api: Api, stored_errors: StoredErrors) -> None:
    body = assert_error_body(api.get("/api/lobbies/nosuchlobby"), status=404, code="lobby_not_found")

    assert body["category"] == "lobby" and body["recovery"] == "none"
    stored_errors.event(body)


def test_closed_lobby_is_lobby_not_found(api: Api, stored_errors: StoredErrors, new_lobby: Callable[..., str]) -> None:
    lobby_id = new_lobby()
    Lobby.objects.filter(pk=lobby_id).update(closed_at=timezone.now())

    body = assert_error_body(api.get(f"/api/lobbies/{lobby_id}"), status=404, code="lobby_not_found")

    stored_errors.event(body)
    assert Lobby.objects.filter(pk=lobby_id).exists()


def test_lobby_id_that_cannot_exist_is_not_found(api: Api, stored_errors: StoredErrors) -> None:
    too_long = assert_error_body(api.get("/api/lobbies/" + "a" * 17), status=404, code="not_found")
    bad_chars = assert_error_body(api.get("/api/lobbies/a.b"), status=404, code="not_found")

    stored_errors.event(too_long)
    stored_errors.event(bad_chars)


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_lobby_detail_with_another_method_is_method_not_allowed(
    api: Api, stored_errors: StoredErrors, new_lobby: Callable[..., str], method: str
) -> None:
    lobby_id = new_lobby()

    response = api.request(method, f"/api/lobbies/{lobby_id}")
    assert response["Allow"] == "GET"
    body = assert_error_body(response, status=405, code="method_not_allowed")

    stored_errors.event(body)
    assert Lobby.objects.get(pk=lobby_id).closed_at is None


# --- Anything else under /api/ ---------------------------------------------


@pytest.mark.parametrize("path", ["/api/", "/api/nothing", "/api/lobbies/abc/participants", "/api/sessions/x"])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_unknown_api_path_is_not_found(api: Api, stored_errors: StoredErrors, path: str, method: str) -> None:
    body = assert_error_body(api.request(method, path), status=404, code="not_found")

    assert body["category"] == "validation"
    stored_errors.event(body)


def test_a_token_pasted_into_an_api_path_is_neither_logged_nor_stored(
    api: Api, new_session: Callable[..., tuple[str, str]], stored_errors: StoredErrors, caplog: Any
) -> None:
    _, token = new_session()

    response = api.get(f"/api/{token}")

    body = assert_error_body(response, status=404, code="not_found")
    event = stored_errors.event(body)
    secret = token.split(":")[-1]
    assert secret not in event.path and secret not in json.dumps(event.context)
    assert "[scrubbed]" in event.path
    assert all(secret not in record.getMessage() for record in caplog.records)


def test_an_api_path_of_any_length_or_content_is_stored_within_its_column(
    api: Api, stored_errors: StoredErrors
) -> None:
    from errors.models import ErrorEvent

    response = api.get("/api/" + "x" * 2000 + "%00end")

    body = assert_error_body(response, status=404, code="not_found")
    event = stored_errors.event(body)
    assert len(event.path) <= ErrorEvent._meta.get_field("path").max_length
    assert "more characters cut" in event.path and "\x00" not in json.dumps(event.context)
