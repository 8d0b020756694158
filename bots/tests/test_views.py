"""GET /api/bots, POST /api/lobbies/<id>/bots and DELETE .../bots/<session_id>: answers, and every error in order."""
from __future__ import annotations

import urllib.request
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from bots.assistant.llm.config import NO_PROVIDER_REASON
from bots.assistant.metrics import TurnTimer, turn_observe
from bots.kinds.catalog import KINDS, NOT_BUILT, KindEntry
from bots.models import Bot, BotProfile, BotWorker
from bots.selectors import NO_WORKER, WORKERS_FULL
from bots.worker.process import metrics_serve
from lobbies.models import GuestSession, Participant
from lobbies.moderation import lobby_close
from lobbies.services import lobby_join, session_create
from lobbies.tests.conftest import Api, StoredErrors, assert_error_body
from lobbies.tests.test_admin import logged_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def room(new_session: Callable[..., tuple[str, str]], new_lobby: Callable[..., str],
         join: Callable[..., Participant]) -> tuple[str, str, str]:
    """(lobby id, Ann's session id, Ann's token), Ann in the lobby."""
    lobby_id = new_lobby()
    ann, token = new_session("Ann")
    join(lobby_id, ann, "Ann")
    return lobby_id, ann, token


def add(api: Api, lobby_id: str, token: str | None, body: Any = None, **kw: Any) -> Any:
    return api.post(f"/api/lobbies/{lobby_id}/bots", {"kind": "echo"} if body is None else body, token=token, **kw)


# --- GET /api/bots ---------------------------------------------------------------


def test_bots_lists_every_kind_and_each_profile(api: Api, live_worker: str) -> None:
    BotProfile.objects.create(id="friendly-echo", name="Parrot", kind="echo", description="Says it back.",
                              instructions="secret sauce", voice="joe")
    body = api.get("/api/bots").json()

    kinds = {kind["kind"]: kind for kind in body["kinds"]}
    assert set(kinds) == {"echo", "announcer", "captioner", "assistant"}
    assert all(set(kind) == {"kind", "available", "description", "reason"} for kind in body["kinds"])
    assert kinds["echo"]["available"] is True and kinds["echo"]["reason"] is None
    # No language-model provider is configured in the tests: the reason names the setting.
    assert kinds["assistant"] == {**kinds["assistant"], "available": False, "reason": NO_PROVIDER_REASON}
    assert "VOICEBOT_LLM_PROVIDERS" in NO_PROVIDER_REASON
    # Staff-only fields (instructions, voice, providers) stay on the server.
    assert body["profiles"] == [{"id": "friendly-echo", "name": "Parrot", "kind": "echo",
                                 "description": "Says it back.", "available": True, "reason": None}]


def llm_reports(worker_id: str, *states: tuple[str, str]) -> None:
    """The worker reports its language-model providers (name, breaker state) and breakers, as its heartbeat does."""
    BotWorker.objects.filter(pk=worker_id).update(
        kinds={"echo": None, "assistant": None},
        stats={"llm": [{"name": name, "dependency": f"llm.{name}", "state": state, "reason": None,
                        "retry_after": 3.0 if state == "open" else None} for name, state in states],
               "breakers": {f"llm.{name}": state for name, state in states}})


def test_a_profile_whose_providers_are_down_says_so(api: Api, live_worker: str) -> None:
    BotProfile.objects.create(id="first-only", name="First", kind="assistant", providers=["first"])
    BotProfile.objects.create(id="any", name="Any", kind="assistant", providers=[])
    BotProfile.objects.create(id="by-index", name="Second", kind="assistant", providers=[1])
    llm_reports(live_worker, ("first", "open"), ("second", "closed"))
    profiles = {p["id"]: p for p in api.get("/api/bots").json()["profiles"]}
    assert profiles["first-only"]["available"] is False
    assert profiles["first-only"]["reason"] == ("Its language-model providers are unavailable "
                                                "(first: failing, tried again soon).")
    assert (profiles["any"]["available"], profiles["any"]["reason"]) == (True, None)
    assert (profiles["by-index"]["available"], profiles["by-index"]["reason"]) == (True, None)
    llm_reports(live_worker, ("first", "open"), ("second", "half_open"))
    profiles = {p["id"]: p for p in api.get("/api/bots").json()["profiles"]}
    # Half open: it failed, and only a trial call will tell whether it is back.
    assert profiles["by-index"]["reason"] == ("Its language-model providers are unavailable "
                                              "(second: failing, tried again now).")
    llm_reports(live_worker, ("first", "open"), ("second", "open"))
    assert {p["id"]: p["available"] for p in api.get("/api/bots").json()["profiles"]} == {
        "first-only": False, "any": False, "by-index": False}


@pytest.mark.django_db(transaction=True)
def test_the_workers_language_model_breakers_show_in_readyz_and_metrics(api: Api, live_worker: str) -> None:
    llm_reports(live_worker, ("first", "open"), ("second", "closed"))
    BotWorker.objects.create(id="e" * 32, host="other", pid=2, capacity=4, started_at=timezone.now(),
                             last_heartbeat=timezone.now(), stats={"breakers": {"llm.first": "half_open",
                                                                                "llm.second": "half_open"}})
    header = api.get("/readyz")["Circuit-Breakers"]
    # The worst state among the live workers.
    assert "llm.first=open" in header and "llm.second=half_open" in header
    text = api.get("/metrics").content.decode()
    assert 'voicebot_bot_worker_circuit_breaker_state{breaker="llm.first"} 2.0' in text
    assert 'voicebot_bot_worker_circuit_breaker_state{breaker="llm.second"} 1.0' in text


def test_bots_says_why_when_no_worker_runs_or_all_are_full(api: Api, live_worker: str,
                                                          room: tuple[str, str, str]) -> None:
    BotWorker.objects.update(last_heartbeat=timezone.now() - timedelta(seconds=60))
    echo = next(k for k in api.get("/api/bots").json()["kinds"] if k["kind"] == "echo")
    assert (echo["available"], echo["reason"]) == (False, NO_WORKER)

    BotWorker.objects.update(last_heartbeat=timezone.now(), capacity=1)
    assert add(api, room[0], room[2]).status_code == 202
    echo = next(k for k in api.get("/api/bots").json()["kinds"] if k["kind"] == "echo")
    assert (echo["available"], echo["reason"]) == (False, WORKERS_FULL)


def test_a_kind_a_worker_cannot_run_says_the_workers_reason(api: Api, live_worker: str) -> None:
    BotWorker.objects.update(kinds={"echo": "The echo needs a sound card."})
    echo = next(k for k in api.get("/api/bots").json()["kinds"] if k["kind"] == "echo")
    assert (echo["available"], echo["reason"]) == (False, "The echo needs a sound card.")


def test_bots_takes_only_get(api: Api) -> None:
    assert_error_body(api.post("/api/bots", {}), status=405, code="method_not_allowed")


# --- POST /api/lobbies/<id>/bots -------------------------------------------------------


def test_adding_a_bot_answers_its_session_and_stores_it_waiting_for_a_worker(
    api: Api, live_worker: str, room: tuple[str, str, str]
) -> None:
    lobby_id, ann, token = room
    response = add(api, lobby_id, token)
    assert response.status_code == 202
    assert set(response.json()) == {"session_id"}
    bot = Bot.objects.select_related("session").get(session_id=response.json()["session_id"])
    assert (bot.kind, bot.lobby_id, bot.requested_by, bot.worker_id, bot.state) == ("echo", lobby_id, ann, None,
                                                                                   "starting")
    assert (bot.session.is_bot, bot.session.name) == (True, "Echo")
    # A second bot of the kind gets a name of its own.
    second = add(api, lobby_id, token).json()["session_id"]
    assert GuestSession.objects.get(pk=second).name == "Echo 2"


def test_a_profile_names_the_bot(api: Api, live_worker: str, room: tuple[str, str, str]) -> None:
    BotProfile.objects.create(id="parrot", name="Polly", kind="echo")
    response = add(api, room[0], room[2], {"kind": "echo", "profile": "parrot"})
    assert response.status_code == 202
    bot = Bot.objects.get(session_id=response.json()["session_id"])
    assert (bot.profile_id, bot.session.name) == ("parrot", "Polly")


@pytest.mark.parametrize("header", [None, "Bearer forged", "Basic abc"])
def test_adding_without_a_valid_token_is_unauthenticated_before_anything_else(
    api: Api, stored_errors: StoredErrors, header: str | None
) -> None:
    # No such lobby and a bad body either: the token is checked first.
    headers = {"Authorization": header} if header else {}
    response = api.post("/api/lobbies/nope/bots", raw="{not json", headers=headers)
    body = assert_error_body(response, status=401, code="unauthenticated")
    assert body["recovery"] == "reauthenticate"
    stored_errors.event(body)


def test_a_token_of_a_session_that_is_gone_is_unauthenticated(api: Api, room: tuple[str, str, str]) -> None:
    session, token = session_create(name="Gone")
    session.delete()
    assert_error_body(add(api, room[0], token), status=401, code="unauthenticated")


def test_an_unknown_or_closed_lobby_is_lobby_not_found_before_forbidden(
    api: Api, new_session: Callable[..., tuple[str, str]], room: tuple[str, str, str], stored_errors: StoredErrors
) -> None:
    _, stranger = new_session("Zed")
    body = assert_error_body(add(api, "no-such-lobby", stranger, raw="[]"), status=404, code="lobby_not_found")
    stored_errors.event(body)
    lobby_close(lobby_id=room[0])
    assert_error_body(add(api, room[0], room[2]), status=404, code="lobby_not_found")


def test_someone_not_in_the_lobby_is_forbidden_before_the_body_is_read(
    api: Api, new_session: Callable[..., tuple[str, str]], room: tuple[str, str, str], stored_errors: StoredErrors
) -> None:
    _, stranger = new_session("Zed")
    body = assert_error_body(add(api, room[0], stranger, raw="{broken"), status=403, code="forbidden")
    assert body["category"] == "auth"
    stored_errors.event(body)
    assert not Bot.objects.exists()


def test_a_bot_is_a_participant_too_and_may_add_one(api: Api, live_worker: str, room: tuple[str, str, str],
                                                    join: Callable[..., Participant]) -> None:
    bot_session, bot_token = session_create(name="Echo", is_bot=True)
    Bot.objects.create(session=bot_session, lobby_id=room[0], kind="echo")
    join(room[0], bot_session.id, "Echo")
    assert add(api, room[0], bot_token).status_code == 202


@pytest.mark.parametrize("body", [
    {}, {"kind": None}, {"kind": 5}, {"kind": ["echo"]}, {"kind": ""}, {"kind": "ECHO"}, {"kind": "robot"},
    {"kind": "echo\x00"}, {"kind": "\ud800"}, {"kind": "e" * 100_00},
    {"kind": "echo", "profile": "nope"}, {"kind": "echo", "profile": 7}, {"kind": "echo", "profile": ""},
    {"kind": "echo", "profile": "x" * 65}, {"kind": "echo", "profile": "wrong-kind"},
    {"kind": "echo", "profile": "\ud800"}, {"kind": "echo", "profile": "par\x00rot"}, {"kind": "echo", "profile": ["a"]},
])
def test_an_unknown_kind_or_profile_is_invalid_message(
    api: Api, live_worker: str, room: tuple[str, str, str], stored_errors: StoredErrors, body: Any
) -> None:
    BotProfile.objects.create(id="wrong-kind", name="Crier", kind="announcer")
    response = add(api, room[0], room[2], body)
    error = assert_error_body(response, status=400, code="invalid_message")
    stored_errors.event(error)
    assert not Bot.objects.exists()


@pytest.mark.parametrize(("raw", "status", "code"), [
    ("{not json", 400, "invalid_json"), ("[1, 2]", 400, "invalid_message"), ('"echo"', 400, "invalid_message"),
    ('{"kind": "' + "e" * 70_000 + '"}', 413, "message_too_large"),
])
def test_a_bad_body_from_a_participant_is_refused(api: Api, room: tuple[str, str, str], raw: str, status: int,
                                                  code: str) -> None:
    assert_error_body(add(api, room[0], room[2], raw=raw), status=status, code=code)


def test_the_lobbys_most_bots_is_bot_limit_reached_before_unavailable(
    api: Api, live_worker: str, room: tuple[str, str, str], settings: Any, stored_errors: StoredErrors
) -> None:
    settings.VOICEBOT_BOTS_PER_LOBBY = 2
    assert add(api, room[0], room[2]).status_code == 202
    assert add(api, room[0], room[2]).status_code == 202
    BotWorker.objects.all().delete()  # and no worker either: the limit is said first
    body = assert_error_body(add(api, room[0], room[2]), status=409, code="bot_limit_reached")
    assert (body["category"], body["recovery"]) == ("bot", "none")
    stored_errors.event(body)
    assert Bot.objects.count() == 2


def test_no_worker_is_bot_unavailable_with_a_retry(api: Api, room: tuple[str, str, str],
                                                   stored_errors: StoredErrors) -> None:
    response = add(api, room[0], room[2])
    body = assert_error_body(response, status=503, code="bot_unavailable")
    assert (body["category"], body["recovery"], body["retry_after"]) == ("bot", "retry", 10.0)
    assert body["message"] == NO_WORKER
    assert response["Retry-After"] == "10"
    stored_errors.event(body)
    assert not Bot.objects.exists() and not GuestSession.objects.filter(is_bot=True).exists()


def test_a_kind_not_built_is_bot_unavailable(api: Api, live_worker: str, room: tuple[str, str, str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(KINDS, "fortune", KindEntry("fortune", "Tells fortunes.", "Fortune", None))
    body = assert_error_body(add(api, room[0], room[2], {"kind": "fortune"}), status=503, code="bot_unavailable")
    assert body["message"] == NOT_BUILT


def test_an_assistant_without_a_language_model_is_bot_unavailable_naming_the_setting(
    api: Api, live_worker: str, room: tuple[str, str, str]
) -> None:
    body = assert_error_body(add(api, room[0], room[2], {"kind": "assistant"}), status=503, code="bot_unavailable")
    assert body["message"] == NO_PROVIDER_REASON


def test_bots_take_no_seat(api: Api, live_worker: str, new_session: Callable[..., tuple[str, str]],
                           new_lobby: Callable[..., str], join: Callable[..., Participant]) -> None:
    lobby_id = new_lobby(max_participants=2)
    ann, token = new_session("Ann")
    join(lobby_id, ann, "Ann")
    join(lobby_id, new_session("Bob")[0], "Bob")
    bot_id = add(api, lobby_id, token).json()["session_id"]
    # The bot joins the full lobby (as the consumer has it join).
    lobby_join(lobby_id=lobby_id, session_id=bot_id, name=None, password=None, channel_name="bot.channel!1",
               instance_id="instance-a", bot_kind="echo")
    detail = api.get(f"/api/lobbies/{lobby_id}").json()
    assert detail["participant_count"] == 2
    [bot] = [p for p in detail["participants"] if p["is_bot"]]
    assert bot == {"session_id": bot_id, "name": "Echo", "is_bot": True, "muted": False, "status": "connected",
                   "bot": {"kind": "echo", "profile": None, "state": "starting"}}


# --- DELETE /api/lobbies/<id>/bots/<session_id> -----------------------------------------


def test_removing_a_bot_forgets_it_and_its_session(api: Api, live_worker: str, room: tuple[str, str, str],
                                                   join: Callable[..., Participant]) -> None:
    lobby_id, _, token = room
    bot_id = add(api, lobby_id, token).json()["session_id"]
    join(lobby_id, bot_id, None)
    response = api.request("DELETE", f"/api/lobbies/{lobby_id}/bots/{bot_id}", token=token)
    assert (response.status_code, response.content) == (204, b"")
    assert not Bot.objects.exists() and not GuestSession.objects.filter(pk=bot_id).exists()
    assert not Participant.objects.filter(session_id=bot_id).exists()


def test_removing_errors_in_order(api: Api, live_worker: str, new_session: Callable[..., tuple[str, str]],
                                  new_lobby: Callable[..., str], room: tuple[str, str, str],
                                  stored_errors: StoredErrors) -> None:
    lobby_id, ann, token = room
    bot_id = add(api, lobby_id, token).json()["session_id"]
    path = f"/api/lobbies/{lobby_id}/bots/{bot_id}"
    assert_error_body(api.request("DELETE", path), status=401, code="unauthenticated")
    assert_error_body(api.request("DELETE", f"/api/lobbies/nope/bots/{bot_id}", token=token), status=404,
                      code="lobby_not_found")
    _, stranger = new_session("Zed")
    assert_error_body(api.request("DELETE", path, token=stranger), status=403, code="forbidden")
    other_lobby = new_lobby()
    for missing in ("f" * 32, ann):  # no such session; a person, not a bot
        body = assert_error_body(api.request("DELETE", f"/api/lobbies/{lobby_id}/bots/{missing}", token=token),
                                 status=404, code="peer_not_found")
        stored_errors.event(body)
    # The bot of another lobby is not this lobby's to remove.
    elsewhere, _ = session_create(name="Echo", is_bot=True)
    Bot.objects.create(session=elsewhere, lobby_id=other_lobby, kind="echo")
    assert_error_body(api.request("DELETE", f"/api/lobbies/{lobby_id}/bots/{elsewhere.id}", token=token),
                      status=404, code="peer_not_found")
    assert_error_body(api.get(path, token=token), status=405, code="method_not_allowed")
    assert Bot.objects.filter(session_id=bot_id).exists()


@pytest.mark.django_db(transaction=True)
def test_readyz_names_the_live_workers_and_what_they_carry(api: Api, live_worker: str,
                                                           room: tuple[str, str, str]) -> None:
    assert add(api, room[0], room[2]).status_code == 202
    Bot.objects.update(worker_id=live_worker)
    BotWorker.objects.create(id="d" * 32, host="gone", pid=1, capacity=4, started_at=timezone.now(),
                             last_heartbeat=timezone.now() - timedelta(minutes=5))
    response = api.get("/readyz")
    worker = BotWorker.objects.get(pk=live_worker)
    assert response["Bot-Workers"] == f"{live_worker}@{worker.host}:{worker.pid}=1/4"
    BotWorker.objects.all().delete()
    assert api.get("/readyz")["Bot-Workers"] == "none"


def test_a_workers_own_metrics_serve_the_assistants_turn_histograms() -> None:
    clock = [10.0]
    timer = TurnTimer(bot_session_id="b" * 32, lobby_id="lobby", profile="atlas", speaker_session_id="a" * 32,
                      speech_ended_at=10.0, clock=lambda: clock[0])
    timer.mark("audio_started", at=11.1)
    turn_observe(timer.finish())
    server = metrics_serve(0, "127.0.0.1")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/metrics", timeout=5) as response:
            text = response.read().decode()
    finally:
        server.shutdown()
    assert 'voicebot_bot_turn_seconds_count{provider="",stage="voice_to_voice"}' in text
    assert "voicebot_bot_turns_total" in text


def test_the_error_dashboard_lists_the_workers_breakers(live_worker: str) -> None:
    llm_reports(live_worker, ("first", "open"), ("second", "closed"))
    page = logged_in(staff=True).get("/admin/errors/errordashboard/").content.decode()
    assert "Circuit breakers of the bot workers" in page
    assert '<tr><td>llm.first</td><td class="breaker-state">open</td></tr>' in page
