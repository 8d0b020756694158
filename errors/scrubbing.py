"""Keeping secrets and bulk out of stored error context.

A stored event never holds a token or a password (the protocol promises
that a token appears in no stored error event and no admin page), and never
a whole SDP body: values are scrubbed by key, strings are scrubbed of
``token=...`` and bearer tokens, and long values are cut short.
"""
from __future__ import annotations

import re
from typing import Any

from ops.logging import scrub_secrets

SCRUBBED = "[scrubbed]"
# Keys whose values are secrets, wherever they appear.
SECRET_KEY_PATTERN = re.compile(r"(?i)token|password|passwd|secret|authorization|cookie|api[_-]?key|credential")
# Keys whose values are bulky session descriptions.
SDP_KEYS = frozenset({"sdp"})
SDP_KEEP = 120
STRING_KEEP = 1000
LIST_KEEP = 50
MAX_DEPTH = 6


def cut(text: str, keep: int) -> str:
    if len(text) <= keep:
        return text
    return f"{text[:keep]}… [{len(text) - keep} more characters cut]"


def context_scrub(value: Any, *, depth: int = 0) -> Any:
    """A JSON-safe copy of ``value`` with secrets removed and bulk cut short."""
    if depth > MAX_DEPTH:
        return "[nested too deeply]"
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return cut(scrub_secrets(value), STRING_KEEP)
    if isinstance(value, dict):
        clean: dict[str, Any] = {}
        for key, item in value.items():
            name = str(key)
            if SECRET_KEY_PATTERN.search(name):
                clean[name] = SCRUBBED
            elif name in SDP_KEYS and isinstance(item, str):
                clean[name] = cut(item, SDP_KEEP)
            else:
                clean[name] = context_scrub(item, depth=depth + 1)
        return clean
    if isinstance(value, (list, tuple)):
        items = [context_scrub(item, depth=depth + 1) for item in value[:LIST_KEEP]]
        if len(value) > LIST_KEEP:
            items.append(f"[{len(value) - LIST_KEEP} more items cut]")
        return items
    return cut(scrub_secrets(repr(value)), STRING_KEEP)


def text_scrub(text: str) -> str:
    """A traceback or message with tokens and passwords removed."""
    return scrub_secrets(text)
