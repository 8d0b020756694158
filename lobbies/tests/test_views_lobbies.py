"""/api/lobbies: paging and search of the list, descriptions, limits refused (never cut), creation budgets."""
from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from lobbies.models import Lobby
from lobbies.tests.conftest import Api, StoredErrors, assert_error_body

pytestmark = pytest.mark.django_db

NewSession = Callable[..., tuple[str, str]]


def make_lobbies(count: int, *, prefix: str = "Room", **fields: Any) -> list[str]:
    """``count`` public lobbies, the first the oldest; their ids."""
    from lobbies.services import lobby_create, session_create

    owner, _ = session_create()
    ids = []
    start = timezone.now() - timedelta(hours=1)
    for index in range(count):
        lobby = lobby_create(session_id=owner.id, name=f"{prefix} {index}", **fields)
        Lobby.objects.filter(pk=lobby.id).update(created_at=start + timedelta(seconds=index))
        ids.append(lobby.id)
    return ids


# --- Paging and search --------------------------------------------------------------


def test_the_list_pages_newest_first_and_says_how_many_there_are(api: Api) -> None:
    ids = make_lobbies(45)

    first = api.get("/api/lobbies").json()
    third = api.get("/api/lobbies?page=3").json()

    assert [lobby["id"] for lobby in first["lobbies"]] == ids[::-1][:20]
    assert (first["page"], first["per_page"], first["pages"], first["total"], first["q"]) == (1, 20, 3, 45, "")
    assert [lobby["id"] for lobby in third["lobbies"]] == ids[::-1][40:]
    assert api.get("/api/lobbies?page=4").json()["lobbies"] == [], "a page past the last one is empty"
    small = api.get("/api/lobbies?per_page=7&page=2").json()
    assert [lobby["id"] for lobby in small["lobbies"]] == ids[::-1][7:14] and small["pages"] == 7


def test_search_looks_in_names_and_descriptions_ignoring_case_and_finds_an_id(api: Api) -> None:
    make_lobbies(3, prefix="Chess club")
    [tea] = make_lobbies(1, prefix="Afternoon", description="Tea and biscuits")
    [other] = make_lobbies(1, prefix="Quiet")

    chess = api.client.get("/api/lobbies", {"q": "  CHESS "}).json()
    assert chess["total"] == 3 and chess["q"] == "CHESS"
    assert {lobby["name"] for lobby in chess["lobbies"]} == {"Chess club 0", "Chess club 1", "Chess club 2"}
    assert [lobby["id"] for lobby in api.get("/api/lobbies?q=biscuit").json()["lobbies"]] == [tea]
    assert [lobby["id"] for lobby in api.get(f"/api/lobbies?q={other}").json()["lobbies"]] == [other]
    nothing = api.get("/api/lobbies?q=karaoke").json()
    assert (nothing["lobbies"], nothing["total"], nothing["pages"]) == ([], 0, 1)


def test_search_finds_no_private_or_closed_lobby(api: Api) -> None:
    [hidden] = make_lobbies(1, prefix="Secret plans", private=True)
    [gone] = make_lobbies(1, prefix="Secret past")
    Lobby.objects.filter(pk=gone).update(closed_at=timezone.now())

    assert api.get("/api/lobbies?q=secret").json()["total"] == 0
    assert api.get(f"/api/lobbies?q={hidden}").json()["total"] == 0


@pytest.mark.parametrize(
    ("query", "names"),
    [("page=0", "page"), ("page=-1", "page"), ("page=abc", "page"), ("page=1.5", "page"), ("page=%EF%BC%92", "page"),
     ("page=9999999", "page"), ("per_page=0", "per_page"), ("per_page=101", "per_page")],
    ids=["zero", "negative", "word", "fraction", "fullwidth-digit", "huge", "per-page-zero", "per-page-too-many"],
)
def test_a_bad_page_number_is_invalid_message_naming_it(
    api: Api, stored_errors: StoredErrors, query: str, names: str
) -> None:
    body = assert_error_body(api.get(f"/api/lobbies?{query}"), status=400, code="invalid_message")
    assert f"'{names}' must be a whole number" in body["message"]
    stored_errors.event(body)


@pytest.mark.parametrize(
    "query",
    ["x" * 65, "a%00b", "a%E2%80%AEb", "a%0Ab"],
    ids=["too-long", "nul", "bidi-override", "newline"],
)
def test_a_bad_search_is_invalid_message(api: Api, stored_errors: StoredErrors, query: str) -> None:
    body = assert_error_body(api.get(f"/api/lobbies?q={query}"), status=400, code="invalid_message")
    assert "search" in body["message"]
    stored_errors.event(body)


def test_a_search_with_a_broken_utf8_byte_finds_nothing_instead_of_failing(api: Api) -> None:
    make_lobbies(2)

    response = api.get("/api/lobbies?q=%ED%A0%80")  # an encoded lone surrogate

    assert response.status_code == 200
    assert response.json()["total"] == 0


# --- Descriptions, and limits refused rather than cut --------------------------------


def test_a_lobby_has_a_trimmed_description(api: Api, new_session: NewSession) -> None:
    _, token = new_session()

    body = api.post("/api/lobbies", {"name": "Book club", "description": "  Chapter 3 tonight  "}, token=token).json()

    assert body["description"] == "Chapter 3 tonight"
    assert api.get(f"/api/lobbies/{body['id']}").json()["description"] == "Chapter 3 tonight"
    assert api.get("/api/lobbies").json()["lobbies"][0]["description"] == "Chapter 3 tonight"


@pytest.mark.parametrize(
    ("description", "said"),
    [("x" * 201, "at most 200 characters; this one has 201"), (5, "must be a string"), (["a"], "must be a string"),
     ("line\nbreak", "line breaks"), ("nul\x00", "control"), ("\u202eevil", "control")],
    ids=["201-chars", "number", "list", "newline", "nul", "bidi-override"],
)
def test_a_bad_description_is_refused_and_no_lobby_is_made(
    api: Api, new_session: NewSession, stored_errors: StoredErrors, description: Any, said: str
) -> None:
    _, token = new_session()

    response = api.post("/api/lobbies", {"name": "Book club", "description": description}, token=token)

    body = assert_error_body(response, status=400, code="invalid_message")
    assert said in body["message"]
    assert not Lobby.objects.exists()
    stored_errors.event(body)


def test_a_lobby_name_of_only_spaces_says_the_rule(api: Api, new_session: NewSession) -> None:
    _, token = new_session()

    body = assert_error_body(api.post("/api/lobbies", {"name": "     "}, token=token), status=400,
                             code="invalid_message")

    assert body["message"] == "A lobby name is 1 to 64 characters after trimming spaces, with no control characters."


def test_a_lobby_name_one_too_long_is_refused_not_cut(api: Api, new_session: NewSession) -> None:
    _, token = new_session()

    ok = api.post("/api/lobbies", {"name": "n" * 64}, token=token)
    refused = api.post("/api/lobbies", {"name": "n" * 65}, token=token)

    assert ok.status_code == 201 and ok.json()["name"] == "n" * 64
    body = assert_error_body(refused, status=400, code="invalid_message")
    assert body["message"].endswith("This one has 65.")
    assert list(Lobby.objects.values_list("name", flat=True)) == ["n" * 64]


def test_a_session_name_one_too_long_is_refused_not_cut(api: Api) -> None:
    body = assert_error_body(api.post("/api/sessions", {"name": "n" * 33}), status=400, code="invalid_name")

    assert body["message"] == "A name is 1 to 32 characters after trimming spaces. This one has 33."


# --- Creation budgets ------------------------------------------------------------------


def test_one_session_may_create_only_its_budget_of_lobbies(
    api: Api, new_session: NewSession, stored_errors: StoredErrors, settings: object
) -> None:
    settings.VOICEBOT_LOBBY_RATE = "3/10 minutes"  # type: ignore[attr-defined]
    _, token = new_session()
    _, other_token = new_session()
    for index in range(3):
        assert api.post("/api/lobbies", {"name": f"L{index}"}, token=token).status_code == 201

    refused = api.post("/api/lobbies", {"name": "One more"}, token=token)

    body = assert_error_body(refused, status=429, code="rate_limited")
    assert body["recovery"] == "retry" and 590 < body["retry_after"] <= 600
    assert refused["Retry-After"] == str(int(body["retry_after"] + 0.999))
    assert body["message"] == "You have created many lobbies in a short time. Use one of them, or wait 10 minutes."
    stored_errors.event(body)
    assert Lobby.objects.count() == 3
    assert api.post("/api/lobbies", {"name": "Someone else"}, token=other_token).status_code == 201


def test_one_address_may_create_only_its_budget_of_lobbies_whatever_the_sessions(
    api: Api, new_session: NewSession, settings: object
) -> None:
    settings.VOICEBOT_LOBBY_ADDRESS_RATE = "2/1 minute"  # type: ignore[attr-defined]
    for index in range(2):
        assert api.post("/api/lobbies", {"name": f"L{index}"}, token=new_session()[1]).status_code == 201

    refused = api.post("/api/lobbies", {"name": "L2"}, token=new_session()[1])
    elsewhere = api.client.post("/api/lobbies", data='{"name": "L3"}', content_type="application/json",
                                headers={"Authorization": f"Bearer {new_session()[1]}"}, REMOTE_ADDR="10.0.0.2")

    body = assert_error_body(refused, status=429, code="rate_limited")
    assert body["message"] == (
        "Many lobbies were created from your network in a short time. Wait a minute, then try again."
    )
    assert elsewhere.status_code == 201


def test_a_refused_or_unauthenticated_request_spends_no_budget(
    api: Api, new_session: NewSession, settings: object
) -> None:
    settings.VOICEBOT_LOBBY_RATE = "1/10 minutes"  # type: ignore[attr-defined]
    _, token = new_session()
    api.post("/api/lobbies", {"name": "L0"}, token=token)
    for _ in range(3):
        assert api.post("/api/lobbies", {"name": "L1"}, token=token).status_code == 429
    settings.VOICEBOT_LOBBY_RATE = "2/10 minutes"  # type: ignore[attr-defined]

    assert api.post("/api/lobbies", {"name": "L1"}, token=token).status_code == 201, "refusals were not counted"
    assert api.post("/api/lobbies", {"name": "L2"}, token="forged").status_code == 401
