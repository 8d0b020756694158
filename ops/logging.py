"""Keeping secrets out of log lines."""
from __future__ import annotations

import logging
import re

# token=... in query strings, and bearer tokens in headers.
_SECRET_PATTERNS = [
    (re.compile(r"(?i)([?&;]|\b)(token|password)=[^&\s\"']*"), r"\1\2=[scrubbed]"),
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._:\-]+"), r"\1[scrubbed]"),
]


def scrub_secrets(text: str) -> str:
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class ScrubSecretsFilter(logging.Filter):
    """Rewrites each record's message with tokens and passwords removed."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        scrubbed = scrub_secrets(message)
        if scrubbed != message:
            record.msg = scrubbed
            record.args = None
        return True
