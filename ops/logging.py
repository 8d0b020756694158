"""How the processes log: secrets kept out of log lines (the names and patterns
are errors.scrubbing's), clients' faults logged as warnings, and what each record
collects (``logging_configure``, settings.LOGGING_CONFIG).
"""
from __future__ import annotations

import logging
import logging.config
from typing import Any

from django.conf import settings

from errors.scrubbing import scrub_secrets

# Where the logging package's own frames come from: findCaller skips them.
_LOGGING_SOURCE = logging._srcfile  # type: ignore[attr-defined]


def logging_configure(config: dict[str, Any]) -> None:
    """settings.LOGGING, and unless VOICEBOT_LOG_CALLER, records without their caller, thread and process.

    A record looks up its caller's frame, thread and process unless told not
    to (the switches of the logging HOWTO's "Optimization"): on a bad frame's
    error line that is a fifth of the cost of logging it.
    """
    caller = settings.VOICEBOT_LOG_CALLER
    logging._srcfile = _LOGGING_SOURCE if caller else None  # type: ignore[attr-defined]
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = caller
    logging.config.dictConfig(config)


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
