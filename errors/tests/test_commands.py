"""error_report in every format, its --fail-on exit status, and prune_errors."""
from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connections
from django.utils import timezone

from errors.boundary import report_error
from errors.exceptions import DatabaseUnavailableError, InvalidMessageError
from errors.models import ErrorEvent, ErrorGroup
from errors.testing import stored_events_sync


@pytest.fixture
def errors(db: None) -> None:
    for _ in range(3):
        report_error(InvalidMessageError(), transport="websocket", where="set_muted")
    report_error(DatabaseUnavailableError(), transport="websocket", where="chat")
    stored_events_sync()
    # One old event of the first group, outside a 24 h window.
    old = ErrorEvent.objects.filter(group__code="invalid_message").first()
    old.occurred_at = timezone.now() - timedelta(days=40)
    old.save()


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("error_report", *args, stdout=out)
    return out.getvalue()


def test_json_report_counts_the_events_in_the_window(errors: None) -> None:
    report = json.loads(run("--since", "24h", "--format", "json"))
    groups = {g["code"]: g for g in report["groups"]}
    assert groups["invalid_message"]["count"] == 2
    assert groups["invalid_message"]["total_count"] == 3
    assert {"code", "category", "severity", "status", "count", "first_seen", "last_seen"} <= set(groups["invalid_message"])
    assert groups["service_unavailable"]["severity"] == "high"
    assert report["total"] == 3
    assert json.loads(run("--since", "60d", "--format", "json"))["total"] == 4


def test_filters_narrow_the_report(errors: None) -> None:
    report = json.loads(run("--format", "json", "--min-severity", "high"))
    assert [g["code"] for g in report["groups"]] == ["service_unavailable"]
    report = json.loads(run("--format", "json", "--category", "validation", "--status", "unresolved"))
    assert [g["code"] for g in report["groups"]] == ["invalid_message"]


def test_csv_report(errors: None) -> None:
    rows = list(csv.DictReader(io.StringIO(run("--format", "csv"))))
    assert {r["code"]: r["count"] for r in rows} == {"invalid_message": "2", "service_unavailable": "1"}


def test_csv_has_every_field_of_the_json_report_with_the_same_values(errors: None) -> None:
    groups = json.loads(run("--format", "json"))["groups"]
    reader = csv.DictReader(io.StringIO(run("--format", "csv")))
    rows = list(reader)

    assert reader.fieldnames == list(groups[0]), "the same fields, in the same order"
    assert {"id", "where", "regressed"} <= set(reader.fieldnames)
    assert rows == [{key: str(value) for key, value in group.items()} for group in groups]


def test_table_report(errors: None) -> None:
    table = run("--since", (timezone.now() - timedelta(days=1)).date().isoformat())
    assert "invalid_message in set_muted" in table and "3 errors in 2 groups." in table


def test_fail_on_exits_1_when_a_severe_error_is_in_the_window(errors: None) -> None:
    with pytest.raises(CommandError) as failure:
        run("--fail-on", "high", "--format", "json")
    assert failure.value.returncode == 1
    run("--fail-on", "critical")  # nothing critical: exits 0


def test_a_bad_since_is_a_clear_error(errors: None) -> None:
    with pytest.raises(CommandError, match="neither a span"):
        run("--since", "yesterday")


def test_prune_deletes_old_events_and_keeps_groups(errors: None) -> None:
    out = io.StringIO()
    call_command("prune_errors", "--older-than", "30d", "--dry-run", stdout=out)
    assert "Would delete 1 error events" in out.getvalue()
    assert ErrorEvent.objects.count() == 4
    call_command("prune_errors", "--older-than", "30d", stdout=out)
    assert ErrorEvent.objects.count() == 3
    assert ErrorGroup.objects.get(code="invalid_message").count == 3
    with pytest.raises(CommandError, match="not a span"):
        call_command("prune_errors", "--older-than", "soon")


@pytest.mark.parametrize("command", [("error_report", "--since", "1h"), ("prune_errors", "--older-than", "30d")])
def test_an_unreachable_database_is_a_one_line_error(
    transactional_db: None, unreachable_database: None, command: tuple[str, ...]
) -> None:
    connections["default"].close()
    with pytest.raises(CommandError, match="The database could not be read .* migrate"):
        call_command(*command, stdout=io.StringIO())
