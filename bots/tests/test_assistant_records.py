"""What the assistants store: conversations (read back by the next worker, shown to staff, pruned) and
measured turns (the analytics page, manage.py bot_report with --fail-on)."""
from __future__ import annotations

import io
import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone as dj_timezone

from bots import analytics, records
from bots.assistant.context import Conversation
from bots.assistant.metrics import TurnTimer
from bots.models import Conversation as StoredConversation
from bots.models import Turn
from lobbies.tests.test_admin import logged_in

pytestmark = pytest.mark.django_db


def a_conversation(lobby_id: str) -> Conversation:
    conversation = Conversation(bot_session_id="b" * 32, bot_name="Atlas", lobby_id=lobby_id, budget_tokens=3000)
    conversation.heard(session_id="a" * 32, name="Ann", text="What is the capital of France?", at=1_764_590_000.0)
    answer = conversation.answer(at=1_764_590_002.0)
    answer.played("Paris is the capital of France.")
    answer.played("It lies on the river Seine.", 0.5)
    answer.end(interrupted=True)
    return conversation


def store_turn(*, profile: str, provider: str, voice_to_voice: float, ended: datetime | None = None,
               interrupted: bool = False, fallback: bool = False) -> None:
    clock = [100.0]
    timer = TurnTimer(bot_session_id="b" * 32, lobby_id="lobby", profile=profile, speaker_session_id="a" * 32,
                      speech_ended_at=100.0, clock=lambda: clock[0],
                      wall=lambda: (ended or dj_timezone.now()).timestamp())
    for moment, at in (("transcribed", 100.4), ("decided", 100.5), ("llm_requested", 100.51),
                       ("llm_first_token", 100.6), ("first_sentence", 100.7), ("tts_started", 100.71),
                       ("tts_first_audio", 100.8), ("audio_started", 100.0 + voice_to_voice)):
        timer.mark(moment, at=at, provider=provider if moment == "llm_first_token" else None)
    metrics = timer.finish(llm_providers=[provider], fallback=fallback, interrupted=interrupted)
    records.turn_store(metrics=metrics.as_dict(), outcome=metrics.outcome)


def test_a_conversation_stored_is_read_back_as_it_was_heard(new_lobby: Callable[..., str]) -> None:
    lobby_id = new_lobby()
    conversation = a_conversation(lobby_id)
    records.conversation_save(lobby_id=lobby_id, bot_session_id="b" * 32, bot_name="Atlas", profile_id=None,
                              data=conversation.to_dict())
    conversation.heard(session_id="a" * 32, name="Ann", text="And Rome?")
    records.conversation_save(lobby_id=lobby_id, bot_session_id="b" * 32, bot_name="Atlas", profile_id=None,
                              data=conversation.to_dict())
    assert StoredConversation.objects.count() == 1
    back = Conversation.from_dict(records.conversation_load(lobby_id=lobby_id, bot_session_id="b" * 32),
                                  budget_tokens=3000)
    assert [(item.role, item.text, item.interrupted) for item in back.items] == [
        ("user", "What is the capital of France?", False),
        ("assistant", "Paris is the capital of France. It lies on —", True),
        ("user", "And Rome?", False),
    ]
    assert records.conversation_load(lobby_id=lobby_id, bot_session_id="c" * 32) is None
    # A lobby that is gone keeps nothing (and fails nothing).
    records.conversation_save(lobby_id="gone", bot_session_id="b" * 32, bot_name="Atlas", profile_id=None,
                              data=conversation.to_dict())
    assert StoredConversation.objects.count() == 1


def test_staff_read_transcripts_in_the_admin_and_others_cannot(new_lobby: Callable[..., str]) -> None:
    lobby_id = new_lobby()
    records.conversation_save(lobby_id=lobby_id, bot_session_id="b" * 32, bot_name="Atlas", profile_id=None,
                              data=a_conversation(lobby_id).to_dict())
    stored = StoredConversation.objects.get()
    staff = logged_in(staff=True)
    page = staff.get(f"/admin/bots/conversation/{stored.pk}/change/").content.decode()
    assert "<strong>Ann</strong>: What is the capital of France?" in page
    assert "<strong>Atlas</strong> (the bot): Paris is the capital of France. It lies on — [interrupted]" in page
    listing = staff.get("/admin/bots/conversation/").content.decode()
    assert "Atlas" in listing and lobby_id in listing
    assert logged_in(staff=False).get(f"/admin/bots/conversation/{stored.pk}/change/").status_code == 302


def test_prune_deletes_old_conversations_and_turns_and_keeps_new_ones(new_lobby: Callable[..., str],
                                                                      settings: Any) -> None:
    lobby_id = new_lobby()
    for session in ("b" * 32, "c" * 32):
        records.conversation_save(lobby_id=lobby_id, bot_session_id=session, bot_name="Atlas", profile_id=None,
                                  data=a_conversation(lobby_id).to_dict())
    StoredConversation.objects.filter(bot_session_id="b" * 32).update(
        updated_at=dj_timezone.now() - timedelta(days=40))
    store_turn(profile="atlas", provider="first", voice_to_voice=1.0, ended=dj_timezone.now() - timedelta(days=40))
    store_turn(profile="atlas", provider="first", voice_to_voice=1.0)
    out = io.StringIO()
    call_command("prune_conversations", "--dry-run", stdout=out)
    assert "Would delete 2 assistant conversations and turns" in out.getvalue()
    call_command("prune_conversations", stdout=out)  # the retention setting: 30 days
    assert list(StoredConversation.objects.values_list("bot_session_id", flat=True)) == ["c" * 32]
    assert Turn.objects.count() == 1
    StoredConversation.objects.update(updated_at=dj_timezone.now() - timedelta(seconds=10))
    Turn.objects.update(speech_ended_at=dj_timezone.now() - timedelta(seconds=10))
    call_command("prune_conversations", "--older-than", "5s", stdout=out)
    assert not StoredConversation.objects.exists() and not Turn.objects.exists()
    with pytest.raises(CommandError, match="is not a span"):
        call_command("prune_conversations", "--older-than", "soon")


def report(*args: str) -> str:
    out = io.StringIO()
    call_command("bot_report", *args, stdout=out)
    return out.getvalue()


def test_bot_report_gives_percentiles_per_profile_and_provider_and_fails_on_a_slow_p95() -> None:
    for value in (1.0, 1.1, 1.2, 1.3, 3.0):
        store_turn(profile="atlas", provider="first", voice_to_voice=value)
    store_turn(profile="atlas", provider="second", voice_to_voice=2.0, fallback=True, interrupted=True)
    store_turn(profile="old", provider="first", voice_to_voice=9.0, ended=dj_timezone.now() - timedelta(days=3))

    data = json.loads(report("--format", "json"))
    assert data["total"]["turns"] == 6
    groups = {(g["profile"], g["provider"]): g for g in data["groups"]}
    assert set(groups) == {("atlas", "first"), ("atlas", "second")}
    first = groups[("atlas", "first")]
    assert first["stages"]["voice_to_voice"]["p50"] == 1.2
    assert first["stages"]["voice_to_voice"]["p95"] == pytest.approx(2.66, abs=0.01)
    assert first["stages"]["llm_first_token"]["p50"] == 0.09
    assert groups[("atlas", "second")]["fallbacks"] == 1 and groups[("atlas", "second")]["interrupted"] == 1

    table = report()
    assert "atlas    first     5" in table and "1.20/2.66" in table
    rows = report("--format", "csv").splitlines()
    assert rows[0].startswith("profile,provider,turns,answered,interrupted,failed,fallbacks,voice_to_voice_p50")
    assert len(rows) == 3
    assert "old" in report("--since", "7d")

    report("--fail-on", "3")  # p95 of all 6 is 2.75 s: passes
    with pytest.raises(CommandError, match="voice_to_voice p95 is 2.750 s, above 2.5 s") as failed:
        report("--fail-on", "2.5")
    assert failed.value.returncode == 1
    with pytest.raises(CommandError, match="llm_first_token p95"):
        report("--fail-on", "0.05", "--stage", "llm_first_token")
    with pytest.raises(CommandError, match="above 0"):
        report("--fail-on", "0")
    with pytest.raises(CommandError, match="is neither a span"):
        report("--since", "yesterday-ish")
    assert "No turns." in report("--profile", "nobody")


def test_the_analytics_page_shows_percentiles_and_the_last_24_hours(settings: Any) -> None:
    store_turn(profile="atlas", provider="first", voice_to_voice=1.25)
    store_turn(profile="atlas", provider="first", voice_to_voice=1.75, ended=dj_timezone.now() - timedelta(hours=3))
    page = logged_in(staff=True).get("/admin/bots/turnanalytics/").content.decode()
    assert "Assistant turns per hour, last 24 hours (2 in all)" in page
    assert page.count('<rect class="bar"') == 24
    assert "1 turns, voice to voice p50 1.25 s, p95 1.25 s" in page
    assert "<td>atlas</td><td>first</td><td>2</td>" in page
    assert "1.5 / 1.725 / 1.745" in page
    assert logged_in(staff=False).get("/admin/bots/turnanalytics/").status_code == 302


def test_percentiles_interpolate_between_the_closest_ranks_as_numpy_does() -> None:
    values = [0.4, 0.1, 0.9, 0.3, 0.7, 0.25, 1.5]
    for q in (1, 50, 95, 99):
        assert analytics.percentile(values, q) == round(float(np.percentile(values, q)), 3)
    assert analytics.percentile([1.0, 2.0], 50) == 1.5
    assert analytics.percentile([0.25], 95) == 0.25  # one turn: its own time
    assert analytics.percentile([], 50) is None
