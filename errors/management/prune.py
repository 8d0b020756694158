"""The shape of every retention command: delete what is older than a span, or count it with --dry-run.

``prune_errors``, ``prune_audit`` (and any other retention command) subclass
``PruneCommand``, name what they delete and call their service.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from errors.management.database import database_errors_as_command_error
from errors.periods import PeriodError, span_parse


class PruneCommand(BaseCommand):
    # What is deleted, in words ("error events"), and a span to show in the help.
    what: str
    example: str = "30d"

    def prune(self, *, older_than: timedelta, dry_run: bool) -> int:
        """Delete (or with ``dry_run`` count) what is older than ``older_than``; how many."""
        raise NotImplementedError

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--older-than", required=True, help=f"A span: {self.example}, 12h, 2w.")
        parser.add_argument("--dry-run", action="store_true", help="Count what would be deleted; delete nothing.")

    def handle(self, *args: Any, older_than: str, dry_run: bool, **options: Any) -> None:
        try:
            span = span_parse(older_than)
        except PeriodError as exc:
            raise CommandError(str(exc)) from None
        with database_errors_as_command_error():
            count = self.prune(older_than=span, dry_run=dry_run)
        if dry_run:
            self.stdout.write(f"Would delete {count} {self.what} older than {older_than} (dry run).")
        else:
            self.stdout.write(f"Deleted {count} {self.what} older than {older_than}.")
