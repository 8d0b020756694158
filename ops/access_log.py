"""Daphne's access log, written through Python logging so that secrets are scrubbed."""
from __future__ import annotations

import logging
from datetime import datetime

from daphne.access import AccessLogGenerator

from errors.scrubbing import scrub_secrets

logger = logging.getLogger("voicebot.access")


class ScrubbedAccessLog(AccessLogGenerator):
    """Daphne's NCSA-style lines, with any token or password removed from the path."""

    def __init__(self) -> None:
        super().__init__(stream=None)

    def write_entry(
        self,
        host: str | None,
        date: datetime,
        request: str,
        status: int | None = None,
        length: int | None = None,
        ident: str | None = None,
        user: str | None = None,
    ) -> None:
        logger.info(
            '%s "%s" %s %s', host or "-", scrub_secrets(request), status or "-", length or "-"
        )
