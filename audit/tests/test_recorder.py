"""The audit recorder: nothing stored on the caller's thread, floods folded, a database outage waited out."""
from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from audit.choices import AuditKind
from audit.models import AuditEvent
from audit.recorder import audit_recorder
from audit.services import audit_record
from audit.testing import audit_events_sync

pytestmark = pytest.mark.django_db


def test_recording_writes_nothing_until_flushed() -> None:
    audit_record(kind=AuditKind.ORIGIN_REFUSED, address="192.0.2.1")
    assert AuditEvent.objects.count() == 0 and audit_recorder().waiting() == 1
    assert len(audit_events_sync()) == 1


def test_a_flood_from_one_address_is_folded_and_its_size_kept(settings: Any) -> None:
    settings.VOICEBOT_AUDIT_SAMPLE_RATE = "5/minute"
    for _ in range(100):
        audit_record(kind=AuditKind.ORIGIN_REFUSED, address="192.0.2.1")
    audit_record(kind=AuditKind.ORIGIN_REFUSED, address="192.0.2.2")

    events = audit_events_sync()
    from_flood = [e for e in events if e.address == "192.0.2.1"]
    assert len(from_flood) == 6 and sum(e.count for e in from_flood) == 100
    assert [e.count for e in events if e.address == "192.0.2.2"] == [1]


def test_details_are_scrubbed_and_cut() -> None:
    audit_record(kind=AuditKind.ADMIN_CHANGE, actor="x" * 500, target="\x00" * 3,
                 details={"password": "hunter2", "note": "token=abc", "long": "y" * 5000})
    [event] = audit_events_sync()
    assert event.details["password"] == "[scrubbed]" and event.details["note"] == "token=[scrubbed]"
    assert len(event.details["long"]) <= 1000 and len(event.actor) <= 150 and "\x00" not in event.target


def test_events_wait_while_the_database_is_down(transactional_db: None, unreachable_database: None) -> None:
    connection.close()  # outside a transaction: the next query connects, and cannot
    audit_record(kind=AuditKind.TOKEN_REJECTED, address="192.0.2.1")
    assert audit_recorder().flush() is False
    assert audit_recorder().waiting() == 1
