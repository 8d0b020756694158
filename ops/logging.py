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


# What uvicorn logs with a traceback at ERROR although the client caused it
# and the server handled it (it closes the socket with 1007).
_CLIENT_FAULTS = ("Invalid UTF-8 sequence received from client.",)


class ClientFaultFilter(logging.Filter):
    """A client's protocol fault that the server handled is a WARNING line, not an ERROR with a traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR and record.getMessage().startswith(_CLIENT_FAULTS):
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.exc_info, record.exc_text = None, None
        return True
