"""Helpers for tests that assert what was stored of an error.

``stored_events`` writes whatever the recorder holds (on the test's own
database connection) and returns the stored rows, so that a test can assert
the row of the error it just caused::

    frame = await client.receive_type("error")
    [event] = await stored_events(correlation_id=frame["correlation_id"])
    assert event.group.code == "peer_not_found"

``recorder_reset`` forgets what an earlier test left waiting; the
``error_recorder`` fixture calls it before and after a test.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from channels.db import database_sync_to_async

from errors.models import ErrorEvent, ErrorGroup
from errors.recorder import DatabaseRecorder, get_recorder
from resilience.registry import dependencies_reset


def storing_recorder() -> DatabaseRecorder:
    recorder = get_recorder()
    if not isinstance(recorder, DatabaseRecorder):
        raise AssertionError(
            f"VOICEBOT_ERROR_RECORDER is {type(recorder).__name__}, which stores nothing: "
            "stored errors need errors.recorder.DatabaseRecorder."
        )
    return recorder


def errors_flush() -> None:
    """Store every waiting error now (sync tests)."""
    if not storing_recorder().flush():
        raise AssertionError("the waiting errors could not be stored (is the database's circuit breaker open?)")


def stored_events_sync(**filters: Any) -> list[ErrorEvent]:
    errors_flush()
    return list(ErrorEvent.objects.filter(**filters).select_related("group").order_by("occurred_at", "id"))


def stored_groups_sync(**filters: Any) -> list[ErrorGroup]:
    errors_flush()
    return list(ErrorGroup.objects.filter(**filters).order_by("first_seen", "id"))


async def stored_events(**filters: Any) -> list[ErrorEvent]:
    """Flush the recorder, then the stored events matching ``filters``, oldest first (with their group)."""
    return await database_sync_to_async(stored_events_sync)(**filters)


async def stored_groups(**filters: Any) -> list[ErrorGroup]:
    """Flush the recorder, then the stored groups matching ``filters``, oldest first."""
    return await database_sync_to_async(stored_groups_sync)(**filters)


def recorder_reset() -> None:
    """Forget errors an earlier test left waiting, and close every circuit breaker."""
    recorder = get_recorder()
    if isinstance(recorder, DatabaseRecorder):
        recorder.discard()
    dependencies_reset()


@pytest.fixture
def error_recorder() -> Iterator[DatabaseRecorder]:
    """The storing recorder, with nothing waiting before the test nor left after it."""
    recorder_reset()
    yield storing_recorder()
    recorder_reset()
