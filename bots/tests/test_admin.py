"""Staff pages of bots: profiles edited, bots seen and removed (the lobby told), workers and what they carry."""
from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.test import Client
from django.utils import timezone

from bots import services
from bots.models import Bot, BotProfile, BotWorker
from bots.selectors import NO_WORKER
from lobbies.models import GuestSession, Participant
from lobbies.services import session_create
from bots.tests.test_consumers import bot_joins
from lobbies.tests.test_admin import action, logged_in


@pytest.fixture
def staff_client(db: None) -> Client:
    return logged_in(staff=True)


def a_bot(lobby_id: str) -> Bot:
    session, _ = session_create(name="Echo", is_bot=True)
    return Bot.objects.create(session=session, lobby_id=lobby_id, kind="echo")


@pytest.mark.django_db
def test_staff_create_a_profile_that_the_api_then_lists(staff_client: Client) -> None:
    response = staff_client.post("/admin/bots/botprofile/add/", {
        "id": "parrot", "name": "Polly", "kind": "echo", "description": "Says it back.", "voice": "joe",
        "language": "en", "greeting": "Hello!", "instructions": "Repeat.", "providers": '["piper", "espeak"]',
        "answer_length": "40", "temperature": "0.5",
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    profile = BotProfile.objects.get()
    assert (profile.providers, profile.answer_length, profile.temperature) == (["piper", "espeak"], 40, 0.5)
    assert Client().get("/api/bots").json()["profiles"] == [
        {"id": "parrot", "name": "Polly", "kind": "echo", "description": "Says it back.", "available": False,
         "reason": NO_WORKER}]


@pytest.mark.django_db
def test_an_assistant_profile_naming_an_unknown_provider_or_tool_is_refused_in_words(
    staff_client: Client, settings: Any
) -> None:
    settings.VOICEBOT_LLM_PROVIDERS = [{"name": "local", "base_url": "http://127.0.0.1:9/v1", "model": "m"}]
    response = staff_client.post("/admin/bots/botprofile/add/", {
        "id": "guide", "name": "Guide", "kind": "assistant", "language": "en", "providers": '["openai"]',
        "tools": '["who_is_here", "launch_rockets"]', "answer_length": "40", "temperature": "0.5",
    })
    page = response.content.decode()
    assert response.status_code == 200 and not BotProfile.objects.exists()
    assert "no language-model provider named &#x27;openai&#x27;; the configured ones are: local" in page
    assert "There is no tool &#x27;launch_rockets&#x27;" in page
    response = staff_client.post("/admin/bots/botprofile/add/", {
        "id": "guide", "name": "Guide", "kind": "assistant", "language": "en", "providers": '["local"]',
        "tools": '["who_is_here"]', "answer_length": "40", "temperature": "0.5",
    })
    assert response.status_code == 302
    assert BotProfile.objects.get().tools == ["who_is_here"]


@pytest.mark.django_db
def test_a_profile_with_an_unknown_kind_or_temperature_out_of_range_is_refused(staff_client: Client) -> None:
    response = staff_client.post("/admin/bots/botprofile/add/", {
        "id": "bad", "name": "Bad", "kind": "robot", "language": "en", "providers": "[]", "answer_length": "40",
        "temperature": "7",
    })
    assert response.status_code == 200 and not BotProfile.objects.exists()


@pytest.mark.django_db
def test_the_worker_pages_show_which_are_alive_and_what_they_carry(staff_client: Client,
                                                                  new_lobby: Callable[..., str]) -> None:
    services.worker_heartbeat(worker_id="a" * 32, capacity=4, kinds={"echo": None})
    BotWorker.objects.create(id="d" * 32, host="old-host", pid=9, capacity=2, started_at=timezone.now(),
                             last_heartbeat=timezone.now() - timedelta(minutes=5))
    bot = a_bot(new_lobby())
    services.bot_claim(worker_id="a" * 32, limit=1, kinds=["echo"])
    page = staff_client.get("/admin/bots/botworker/").content.decode()
    assert "old-host" in page and 'alt="True"' in page and 'alt="False"' in page
    detail = staff_client.get(f"/admin/bots/botworker/{'a' * 32}/change/").content.decode()
    assert bot.session_id in detail
    assert staff_client.get("/admin/bots/bot/").status_code == 200
    assert staff_client.get(f"/admin/bots/bot/{bot.pk}/change/").status_code == 200


@pytest.mark.django_db(transaction=True)
async def test_removing_a_bot_from_the_admin_tells_its_lobby(ws: Callable[..., Any], joined_pair: Any) -> None:
    lobby_id, ann, bob = joined_pair
    socket = await bot_joins(ws, lobby_id, [ann, bob])
    bot = await database_sync_to_async(Bot.objects.get)(session_id=socket.session_id)
    client = await database_sync_to_async(logged_in)(staff=True)
    response = await database_sync_to_async(action)(client, "/admin/bots/bot/", "remove_bots", [bot.pk])
    assert "Removed 1 bots." in response.content.decode()
    for person in (ann, bob):
        assert (await person.receive_type("remove_peer"))["peer_id"] == bot.session_id
        assert (await person.receive_type("participant_left"))["reason"] == "left"
    assert (await socket.receive_type("participant_left"))["session_id"] == bot.session_id
    assert not await database_sync_to_async(GuestSession.objects.filter(pk=bot.session_id).exists)()
    assert not await database_sync_to_async(Bot.objects.exists)()
    assert not await database_sync_to_async(Participant.objects.filter(session_id=bot.session_id).exists)()


@pytest.mark.django_db
def test_people_who_are_not_staff_see_no_bot_page(db: None) -> None:
    visitor = logged_in(staff=False)
    assert visitor.get("/admin/bots/bot/").status_code == 302
