"""Delete the assistants' old conversations (transcripts) and measured turns."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings

from bots.records import conversations_prune
from errors.management.prune import PruneCommand


class Command(PruneCommand):
    help = ("Delete assistant conversations not changed, and measured turns taken, within a span "
            "(default: VOICEBOT_BOT_CONVERSATION_RETENTION).")
    what = "assistant conversations and turns"

    def add_arguments(self, parser: Any) -> None:
        super().add_arguments(parser)
        # The retention setting is the default span.
        for action in parser._actions:
            if action.dest == "older_than":
                action.required = False
                action.default = f"{int(settings.VOICEBOT_BOT_CONVERSATION_RETENTION)}s"

    def prune(self, *, older_than: timedelta, dry_run: bool) -> int:
        if older_than.total_seconds() <= 0:
            return 0  # a retention of 0 keeps them
        return conversations_prune(older_than=older_than, dry_run=dry_run)
