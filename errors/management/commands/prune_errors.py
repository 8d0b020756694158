"""Delete old error events; their groups and the groups' counts stay."""
from __future__ import annotations

from datetime import timedelta

from errors.management.prune import PruneCommand
from errors.services import error_events_prune


class Command(PruneCommand):
    help = "Delete error events older than a span (e.g. 30d). Groups and their counts are kept."
    what = "error events"

    def prune(self, *, older_than: timedelta, dry_run: bool) -> int:
        return error_events_prune(older_than=older_than, dry_run=dry_run)
