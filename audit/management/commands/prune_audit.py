"""Delete old security audit events."""
from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from audit.services import audit_events_prune
from errors.management.database import database_errors_as_command_error
from errors.periods import PeriodError, span_parse


class Command(BaseCommand):
    help = "Delete security audit events older than a span (e.g. 90d)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--older-than", required=True, help="A span: 90d, 12h, 2w.")
        parser.add_argument("--dry-run", action="store_true", help="Count what would be deleted; delete nothing.")

    def handle(self, *args: Any, older_than: str, dry_run: bool, **options: Any) -> None:
        try:
            span = span_parse(older_than)
        except PeriodError as exc:
            raise CommandError(str(exc)) from None
        with database_errors_as_command_error():
            count = audit_events_prune(older_than=span, dry_run=dry_run)
        if dry_run:
            self.stdout.write(f"Would delete {count} audit events older than {older_than} (dry run).")
        else:
            self.stdout.write(f"Deleted {count} audit events older than {older_than}.")
