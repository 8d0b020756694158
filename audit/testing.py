"""Helpers for tests that assert what the audit log stored."""
from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async

from audit.models import AuditEvent
from audit.recorder import audit_recorder


def audit_events_sync(**filters: Any) -> list[AuditEvent]:
    """Store what waits, then the stored events matching ``filters``, oldest first."""
    if not audit_recorder().flush():
        raise AssertionError("the waiting audit events could not be stored")
    return list(AuditEvent.objects.filter(**filters).order_by("occurred_at", "id"))


async def audit_events(**filters: Any) -> list[AuditEvent]:
    return await database_sync_to_async(audit_events_sync)(**filters)
