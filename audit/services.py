"""Writes of the audit app: recording a security event, pruning old ones."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from audit.choices import AuditKind
from audit.entries import AuditEntry
from audit.models import AuditEvent
from audit.recorder import audit_recorder
from errors.scrubbing import context_scrub, cut, storable
from voicebot_site.retention import rows_prune



def audit_record(
    *,
    kind: AuditKind,
    actor: str = "",
    user: Any = None,
    session_id: str | None = None,
    address: str | None = None,
    lobby_id: str | None = None,
    target: str = "",
    correlation_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> str:
    """Record a security event (from any thread; it never waits for the database); its correlation id.

    ``details`` are scrubbed as stored error context is: no token, no
    password, nothing long.
    """
    correlation_id = correlation_id or uuid.uuid4().hex
    audit_recorder().record(AuditEntry(
        kind=str(kind),
        occurred_at=timezone.now(),
        correlation_id=correlation_id,
        actor=cut(storable(actor), 150),
        user_id=getattr(user, "pk", None),
        session_id=(session_id or "")[:32],
        address=storable(address or "")[:64],
        lobby_id=(lobby_id or "")[:32],
        target=cut(storable(target), 255),
        details=context_scrub(details or {}),
    ))
    return correlation_id


def audit_events_prune(*, older_than: timedelta, dry_run: bool = False, now: datetime | None = None) -> int:
    """Delete events older than ``older_than``, in chunks; how many were (or would be) deleted."""
    cutoff = (now or timezone.now()) - older_than
    return rows_prune(AuditEvent.objects.filter(occurred_at__lt=cutoff), dry_run=dry_run)
