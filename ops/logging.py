"""Keeping secrets out of log lines."""
from __future__ import annotations

import logging
import re
from urllib.parse import unquote_plus

# Names whose values are secrets, in query strings and key=value text.
_SECRET_NAMES = frozenset({"token", "password"})
# A name=value pair; the name may be percent-encoded (the server decodes
# query-string names, so "%74oken=" carries a token just as "token=" does).
_PAIR = re.compile(r"(?<![\w%.+-])([\w%.+-]+)=([^&;\s\"']*)")
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._:\-]+")


def _scrub_pair(match: re.Match[str]) -> str:
    if unquote_plus(match.group(1)).lower() in _SECRET_NAMES:
        return f"{match.group(1)}=[scrubbed]"
    return match.group(0)


def scrub_secrets(text: str) -> str:
    """``text`` with the values of token=/password= pairs and of Bearer credentials replaced."""
    return _BEARER.sub(r"\1[scrubbed]", _PAIR.sub(_scrub_pair, text))


class ScrubSecretsFilter(logging.Filter):
    """Rewrites each record's message with tokens and passwords removed."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        scrubbed = scrub_secrets(message)
        if scrubbed != message:
            record.msg = scrubbed
            record.args = None
        return True
