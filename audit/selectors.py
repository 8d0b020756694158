"""Reads of the audit log."""
from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet

from audit.models import AuditEvent


def audit_event_list(*, kind: str | None = None, since: datetime | None = None,
                     lobby_id: str | None = None, address: str | None = None) -> QuerySet[AuditEvent]:
    """Audit events, newest first, filtered by what is given."""
    events = AuditEvent.objects.select_related("user")
    if kind is not None:
        events = events.filter(kind=kind)
    if since is not None:
        events = events.filter(occurred_at__gte=since)
    if lobby_id is not None:
        events = events.filter(lobby_id=lobby_id)
    if address is not None:
        events = events.filter(address=address)
    return events.order_by("-occurred_at", "-id")
