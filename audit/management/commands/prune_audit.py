"""Delete old security audit events."""
from __future__ import annotations

from datetime import timedelta

from audit.services import audit_events_prune
from errors.management.prune import PruneCommand


class Command(PruneCommand):
    help = "Delete security audit events older than a span (e.g. 90d)."
    what = "audit events"
    example = "90d"

    def prune(self, *, older_than: timedelta, dry_run: bool) -> int:
        return audit_events_prune(older_than=older_than, dry_run=dry_run)
