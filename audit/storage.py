"""Storing what the audit recorder collected: one bulk insert."""
from __future__ import annotations

from audit.entries import AuditEntry
from audit.models import AuditEvent


def audit_entries_store(*, entries: list[AuditEntry]) -> int:
    """Store recorded events in one bulk insert."""
    AuditEvent.objects.bulk_create([
        AuditEvent(
            kind=e.kind, occurred_at=e.occurred_at, correlation_id=e.correlation_id, actor=e.actor, user_id=e.user_id,
            session_id=e.session_id, address=e.address, lobby_id=e.lobby_id, target=e.target, details=e.details,
            count=e.count,
        )
        for e in entries
    ])
    return len(entries)
