"""Keeping secrets out of log lines (the names and patterns are errors.scrubbing's)."""
from __future__ import annotations

import logging

from errors.scrubbing import scrub_secrets


class ScrubSecretsFilter(logging.Filter):
    """Rewrites each record's message with tokens, passwords and keys removed."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        scrubbed = scrub_secrets(message)
        if scrubbed != message:
            record.msg = scrubbed
            record.args = None
        return True
