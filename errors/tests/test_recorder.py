"""The storing recorder: grouping, scrubbing, sampling with exact counts, spill and shutdown."""
from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import IntegrityError
from django.db.models import Sum
from prometheus_client import REGISTRY

from errors.boundary import report_error
from errors.choices import GroupStatus
from errors.exceptions import InvalidMessageError, RateLimitedError
from errors import grouping
from errors.grouping import report_fingerprint
from errors.models import ErrorEvent, ErrorGroup
from errors.occurrence import FOLDED_IDS, occurrence_from_report
from errors import recorder as recorder_module
from errors.recorder import DatabaseRecorder
from errors.selectors import correlation_id_searched, error_events_of_correlation_id
from errors.spill import spilled
from errors.services import error_group_ignore, error_group_resolve, error_occurrences_store
from errors.testing import errors_flush, storing_recorder, stored_events_sync, stored_groups_sync
from resilience.database import database
from resilience.registry import dependencies_reset


def fail_with(exc: BaseException, **fields: Any) -> str:
    """Report ``exc`` as the WebSocket boundary would; returns its correlation id."""
    fields.setdefault("transport", "websocket")
    fields.setdefault("where", "set_muted")
    _, report = report_error(exc, **fields)
    return report.correlation_id


def raise_and_report(exc_type: type[Exception], where: str) -> str:
    try:
        raise exc_type("boom with variable text 12345")
    except exc_type as exc:
        return fail_with(exc, where=where)


def test_the_same_error_with_different_text_makes_one_group(db: None) -> None:
    first = fail_with(InvalidMessageError("'muted' must be true or false."), lobby_id="L1", session_id="S1")
    second = fail_with(InvalidMessageError("something else entirely"), lobby_id="L2", session_id="S2")

    [group] = stored_groups_sync()
    assert (group.code, group.category, group.severity, group.status) == ("invalid_message", "validation", "low", "unresolved")
    assert group.count == 2
    assert group.title == "invalid_message in set_muted"
    events = stored_events_sync()
    assert [e.correlation_id for e in events] == [first, second]
    assert [(e.lobby_id, e.session_id, e.message) for e in events] == [
        ("L1", "S1", "'muted' must be true or false."),
        ("L2", "S2", "something else entirely"),
    ]
    assert events[0].pid and events[0].host
    assert events[0].traceback == ""


def test_a_different_place_makes_another_group(db: None) -> None:
    fail_with(InvalidMessageError(), where="set_muted")
    fail_with(InvalidMessageError(), where="relay_ice_candidate")
    assert sorted(g.where for g in stored_groups_sync()) == ["relay_ice_candidate", "set_muted"]


def test_unexpected_exceptions_group_by_type_and_keep_their_traceback(db: None) -> None:
    zero = raise_and_report(ZeroDivisionError, "chat")
    raise_and_report(ZeroDivisionError, "chat")
    raise_and_report(KeyError, "chat")

    groups = {g.title: g for g in stored_groups_sync()}
    assert set(groups) == {"internal_error in chat: ZeroDivisionError", "internal_error in chat: KeyError"}
    assert groups["internal_error in chat: ZeroDivisionError"].count == 2
    [event] = stored_events_sync(correlation_id=zero)
    assert event.message == "Something went wrong on the server. It has been logged."
    assert "ZeroDivisionError: boom with variable text 12345" in event.traceback
    assert "raise_and_report" in event.traceback


def test_stored_context_has_no_secrets_and_sdp_is_cut(db: None) -> None:
    sdp = "v=0\r\n" + "a=candidate:1 1 udp 2122260223 10.0.0.1 54400 typ host\r\n" * 200
    correlation_id = fail_with(
        InvalidMessageError(),
        context={
            "token": "tok.secret.value",
            "path": "/ws/lobby/x/?token=tok.secret.value",
            "frame": {"password": "hunter2", "description": {"type": "offer", "sdp": sdp}},
            "headers": {"Authorization": "Bearer abc.def"},
        },
    )
    [event] = stored_events_sync(correlation_id=correlation_id)
    stored = repr(event.context)
    assert "tok.secret.value" not in stored and "hunter2" not in stored and "abc.def" not in stored
    assert event.context["token"] == "[scrubbed]"
    assert event.context["frame"]["password"] == "[scrubbed]"
    assert event.context["path"] == "/ws/lobby/x/?token=[scrubbed]"
    assert len(event.context["frame"]["description"]["sdp"]) < 200
    assert "more characters cut" in event.context["frame"]["description"]["sdp"]


def test_a_storm_is_sampled_but_counted_exactly(db: None, settings: Any) -> None:
    settings.VOICEBOT_ERROR_SAMPLE_RATE = "5/minute"
    recorder = DatabaseRecorder()
    for _ in range(1000):
        _, report = report_error(RateLimitedError(), transport="websocket", where="ping")
        recorder.record(report)
    assert recorder.flush()

    [group] = ErrorGroup.objects.all()
    assert group.count == 1000
    events = list(ErrorEvent.objects.order_by("id"))
    # Five full rows, then one row standing for the other 995.
    assert [e.weight for e in events] == [1, 1, 1, 1, 1, 995]
    assert events[-1].sampled
    assert ErrorEvent.objects.aggregate(n=Sum("weight"))["n"] == 1000


def test_a_weighted_event_lists_the_correlation_ids_it_stands_for(db: None, settings: Any) -> None:
    settings.VOICEBOT_ERROR_SAMPLE_RATE = "3/minute"
    settings.VOICEBOT_ERROR_FOLDED_IDS_MAX = 20
    recorder = DatabaseRecorder()
    ids = []
    for _ in range(28):
        _, report = report_error(RateLimitedError(), transport="websocket", where="ping")
        recorder.record(report)
        ids.append(report.correlation_id)
    assert recorder.flush()

    weighted = ErrorEvent.objects.get(weight=25)
    # The latest occurrence's row; the first 20 ids beyond the sample are listed (the setting), the rest counted.
    assert weighted.correlation_id == ids[-1]
    assert weighted.context[FOLDED_IDS] == ids[3:23]
    assert list(error_events_of_correlation_id(ids[10])) == [weighted]
    assert list(error_events_of_correlation_id(ids[1])) == [ErrorEvent.objects.get(correlation_id=ids[1])]
    assert not error_events_of_correlation_id(ids[25]).exists()  # beyond the setting: counted only
    assert not error_events_of_correlation_id("0" * 32).exists()


@pytest.mark.parametrize("term", ["", " ", "a" * 31, "a" * 33, "g" * 32, "\uff10" * 32, "a" * 31 + "\u0130",
                                  "x" * 100_000, "%" + "a" * 31, '"' + "a" * 31])
def test_a_search_that_is_no_correlation_id_asks_for_none(term: str) -> None:
    assert correlation_id_searched(term) is None


def test_a_correlation_id_is_searched_in_any_case_with_spaces_around() -> None:
    assert correlation_id_searched(f"  {'AB' * 16}\n") == "ab" * 16


def sampled_total() -> float:
    return REGISTRY.get_sample_value("voicebot_error_events_sampled_total") or 0.0


def test_sampled_counts_stay_exact_across_writes(db: None, settings: Any) -> None:
    settings.VOICEBOT_ERROR_SAMPLE_RATE = "2/minute"
    recorder = DatabaseRecorder()
    for burst, folded in ((10, 8), (7, 7)):  # the second burst falls in the same minute's window
        counted = sampled_total()
        for _ in range(burst):
            _, report = report_error(RateLimitedError(), transport="websocket", where="ping")
            recorder.record(report)
        assert sampled_total() == counted  # the folds are counted when the writer takes them
        assert recorder.flush()
        assert sampled_total() == counted + folded
    assert ErrorGroup.objects.get().count == 17
    assert ErrorEvent.objects.aggregate(n=Sum("weight"))["n"] == 17


def test_a_new_event_reopens_a_resolved_group_as_regressed(db: None, django_user_model: Any) -> None:
    fail_with(InvalidMessageError())
    [group] = stored_groups_sync()
    staff = django_user_model.objects.create_user("staff", is_staff=True)
    assert error_group_resolve(group_ids=[group.pk], user=staff) == 1
    group.refresh_from_db()
    assert (group.status, group.resolved_by, group.regressed) == (GroupStatus.RESOLVED, staff, False)

    fail_with(InvalidMessageError())
    group.refresh_from_db()
    errors_flush()
    group.refresh_from_db()
    assert (group.status, group.regressed, group.count) == (GroupStatus.UNRESOLVED, True, 2)
    assert group.regressed_at is not None


def test_an_ignored_group_stays_ignored_and_keeps_counting(db: None) -> None:
    fail_with(InvalidMessageError())
    [group] = stored_groups_sync()
    error_group_ignore(group_ids=[group.pk])
    fail_with(InvalidMessageError())
    fail_with(InvalidMessageError())
    [group] = stored_groups_sync()
    assert (group.status, group.count, group.regressed) == (GroupStatus.IGNORED, 3, False)


def test_a_full_buffer_spills_to_a_file_and_loses_nothing(db: None, settings: Any, tmp_path: Path) -> None:
    settings.VOICEBOT_ERROR_BUFFER_SIZE = 10
    settings.VOICEBOT_ERROR_SPILL_PATH = str(tmp_path / "spill.jsonl")
    recorder = DatabaseRecorder()
    ids = []
    for i in range(25):
        _, report = report_error(InvalidMessageError(), transport="websocket", where="set_muted", lobby_id=f"L{i}")
        recorder.record(report)
        ids.append(report.correlation_id)
    assert recorder.buffer.spilled_total >= 10
    assert spilled(tmp_path / "spill.jsonl") == [recorder.buffer.spill_path]
    assert recorder.buffer.spill_path.stat().st_size > 0
    assert recorder.buffer.memory_size() < 10

    assert recorder.flush()
    assert sorted(ErrorEvent.objects.values_list("correlation_id", flat=True)) == sorted(ids)
    assert ErrorGroup.objects.get().count == 25
    # Spill, draining and offset files all gone; the lock stays while the process lives.
    assert [p.name for p in tmp_path.iterdir()] == [recorder.buffer.spill_path.name + ".lock"]


def test_shutdown_with_the_database_breaker_open_keeps_everything_on_disk(
    db: None, settings: Any, tmp_path: Path
) -> None:
    settings.VOICEBOT_ERROR_SPILL_PATH = str(tmp_path / "spill.jsonl")
    settings.VOICEBOT_ERROR_SAMPLE_RATE = "3/minute"
    recorder = DatabaseRecorder()
    for _ in range(8):
        _, report = report_error(InvalidMessageError(), transport="websocket", where="set_muted")
        recorder.record(report)
    breaker = database().breaker
    for _ in range(breaker.failure_threshold):
        breaker.record_failure(ConnectionRefusedError())
    assert breaker.state == "open"

    recorder.close()
    assert ErrorEvent.objects.count() == 0
    assert spilled(tmp_path / "spill.jsonl") == [recorder.buffer.spill_path]
    lines = recorder.buffer.spill_path.read_text().splitlines()
    # 3 full occurrences and one standing for the 5 sampled away.
    assert len(lines) == 4

    breaker.reset()
    next_process = DatabaseRecorder()
    assert next_process.flush()
    assert {g.where: g.count for g in ErrorGroup.objects.all()} == {"set_muted": 8}
    assert spilled(tmp_path / "spill.jsonl") == []


def test_flush_with_the_breaker_open_keeps_occurrences_waiting(db: None) -> None:
    fail_with(InvalidMessageError())
    breaker = database().breaker
    for _ in range(breaker.failure_threshold):
        breaker.record_failure(ConnectionRefusedError())
    recorder = storing_recorder()
    assert recorder.flush() is False
    assert ErrorEvent.objects.count() == 0
    breaker.reset()
    assert recorder.flush() is True
    assert sorted(ErrorGroup.objects.values_list("where", flat=True)) == ["breaker.database", "set_muted"]


def test_a_batch_refused_as_the_breaker_trial_settles_it_and_the_next_batch_is_stored(
    db: None, settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A trial batch the database answers with an error (a constraint) proves it up: it must not leave
    the breaker half-open, refusing every later write."""
    settings.VOICEBOT_ERROR_SPILL_PATH = str(tmp_path / "spill.jsonl")
    settings.VOICEBOT_BREAKER_RECOVERY_TIMEOUT = 0.0
    dependencies_reset()
    recorder = DatabaseRecorder()
    _, report = report_error(InvalidMessageError(), transport="websocket", where="set_muted")
    recorder.record(report)
    breaker = database().breaker
    for _ in range(breaker.failure_threshold):
        breaker.record_failure(ConnectionRefusedError())
    assert breaker.state == "half_open"

    def refuse(*, occurrences: list[Any]) -> int:
        raise IntegrityError("value too long for type character varying(400)")

    monkeypatch.setattr(recorder_module, "error_occurrences_store", refuse)
    assert recorder.flush()  # the refused batch is set aside, not retried for ever
    assert breaker.state == "closed"
    assert recorder.buffer.spill.rejected_path().read_text().count("\n") == 1
    monkeypatch.undo()
    _, later = report_error(InvalidMessageError(), transport="websocket", where="set_name")
    recorder.record(later)
    assert recorder.flush()
    assert list(ErrorEvent.objects.values_list("where", flat=True)) == ["set_name"]


def test_an_unwritable_spill_file_loses_nothing(db: None, settings: Any, tmp_path: Path) -> None:
    settings.VOICEBOT_ERROR_SPILL_PATH = str(tmp_path / "file-in-the-way" / "spill.jsonl")
    settings.VOICEBOT_ERROR_BUFFER_SIZE = 4
    (tmp_path / "file-in-the-way").write_text("not a folder")
    recorder = DatabaseRecorder()
    for _ in range(9):
        _, report = report_error(InvalidMessageError(), transport="websocket", where="set_muted")
        recorder.record(report)  # spilling fails inside: record still returns
    assert recorder.buffer.memory_size() == 9
    assert recorder.flush()
    assert ErrorGroup.objects.get().count == 9


def test_first_and_last_seen_only_widen_whatever_order_batches_arrive_in(db: None) -> None:
    _, report = report_error(InvalidMessageError(), transport="websocket", where="set_muted")
    base = occurrence_from_report(report)
    now = base.occurred_at
    # The middle one first; an older one later (say, drained from the spill file); then a newer one.
    for moment in (now, now - timedelta(hours=1), now + timedelta(hours=1)):
        assert error_occurrences_store(occurrences=[replace(base, occurred_at=moment, weight=2)]) == 2
    group = ErrorGroup.objects.get()
    assert (group.first_seen, group.last_seen, group.count) == (now - timedelta(hours=1), now + timedelta(hours=1), 6)
    assert (group.status, group.regressed, group.regressed_at) == (GroupStatus.UNRESOLVED, False, None)


def test_an_occurrence_from_before_the_resolution_does_not_reopen_the_group(db: None) -> None:
    _, report = report_error(InvalidMessageError(), transport="websocket", where="set_muted")
    base = occurrence_from_report(report)
    error_occurrences_store(occurrences=[base])
    group = ErrorGroup.objects.get()
    error_group_resolve(group_ids=[group.pk], user=None)
    # A spilled occurrence older than the resolution counts, but the group stays resolved.
    error_occurrences_store(occurrences=[replace(base, occurred_at=base.occurred_at - timedelta(minutes=5))])
    group.refresh_from_db()
    assert (group.status, group.regressed, group.count) == (GroupStatus.RESOLVED, False, 2)


def test_a_fingerprint_kept_for_its_code_and_place_is_the_one_computed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(grouping, "_known", {})
    monkeypatch.setattr(grouping, "_KNOWN_MAX", 2)
    _, first = report_error(RateLimitedError(), transport="websocket", where="ping")
    _, again = report_error(RateLimitedError(), transport="websocket", where="ping")
    _, elsewhere = report_error(RateLimitedError(), transport="websocket", where="chat")
    assert report_fingerprint(first) == report_fingerprint(again) == hashlib.sha256(
        "\x1f".join(("rate_limited", str(RateLimitedError.category), "ping", "")).encode()).hexdigest()
    assert report_fingerprint(elsewhere) != report_fingerprint(first)
    assert len(grouping._known) == 2
    # A cause is part of its fingerprint (its type and function): such a fingerprint is never kept.
    _, caused = report_error(ValueError("x"), transport="websocket", where="ping")
    report_fingerprint(caused)
    assert len(grouping._known) == 2
    # Beyond the bound the table starts again; the fingerprints stay the same.
    _, third = report_error(RateLimitedError(), transport="websocket", where="set_muted")  # recorded: kept
    assert list(grouping._known) == [("rate_limited", RateLimitedError.category, "set_muted")]
    assert report_fingerprint(third) != report_fingerprint(first)
    assert report_fingerprint(first) == report_fingerprint(again)
