"""Keeping secrets and bulk out of log lines and stored error context.

A log line or a stored event never holds a token, a password or a key (the
protocol promises that a token appears in no log line, no stored error event
and no admin page), and a stored event never a whole SDP body. One list of
secret names serves both: the values of keys and of ``name=value`` pairs
whose name contains one are scrubbed, and so are bearer credentials; long
values are cut short.
"""
from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote_plus

SCRUBBED = "[scrubbed]"
# Names whose values are secrets, wherever they appear: a dict key, a query
# parameter, a key=value in a message or a traceback. A secret word counts as
# a whole part of the name (access_token, X-Api-Key, password2, client.secret),
# not inside another word (tokens, retoken).
SECRET_NAME = re.compile(
    r"(?i)(?:^|[_.\-])(?:token|password|passwd|secret|authorization|cookie|api[_-]?key|credentials?)(?:$|[_.\-\d])"
)
# A name=value pair; the name may be percent-encoded (the server decodes
# query-string names, so "%74oken=" carries a token just as "token=" does).
_PAIR = re.compile(r"(?<![\w%.+-])([\w%.+-]+)=([^&;\s\"']*)")
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._:\-]+")
# A session token wherever it stands (pasted into a path, say): the session id,
# a timestamp and a signature, joined by colons (plain or percent-encoded).
_SESSION_TOKEN = re.compile(r"(?i)\b[0-9a-f]{32}(?::|%3a)[0-9a-z]{1,13}(?::|%3a)[a-z0-9_-]{20,}")
# Keys whose values are bulky session descriptions.
SDP_KEYS = frozenset({"sdp"})
# What every text with a secret name or a Bearer credential holds (a pair's name holds its secret
# word as it is or percent-encoded; "key" stands for every spelling of "api key"), and what every
# session token holds. Most log lines hold none of them: they are given back after these few
# substring checks instead of three substitutions. Only for ASCII text: the patterns ignore case
# as Unicode does, where "ı" and "ſ" match "i" and "s".
_SECRET_HINTS = ("token", "passw", "secret", "authorization", "cookie", "key", "credential", "bearer", "%")
_TOKEN_HINTS = (":", "%")
SDP_KEEP = 120
STRING_KEEP = 1000
LIST_KEEP = 50
MAX_DEPTH = 6
_SURROGATE = re.compile("[\ud800-\udfff]")


def _scrub_pair(match: re.Match[str]) -> str:
    if SECRET_NAME.search(unquote_plus(match.group(1))):
        return f"{match.group(1)}={SCRUBBED}"
    return match.group(0)


def scrub_secrets(text: str) -> str:
    """``text`` with the values of secret ``name=value`` pairs, Bearer credentials and session tokens replaced."""
    ascii_text = text.isascii()
    if not ascii_text or _holds_any(text.lower(), _SECRET_HINTS):
        text = _named_secrets_scrub(text)
    if not ascii_text or _holds_any(text, _TOKEN_HINTS):
        text = _session_tokens_scrub(text)
    return text


def _named_secrets_scrub(text: str) -> str:
    """The values of secret ``name=value`` pairs and Bearer credentials replaced."""
    return _BEARER.sub(rf"\1{SCRUBBED}", _PAIR.sub(_scrub_pair, text))


def _session_tokens_scrub(text: str) -> str:
    return _SESSION_TOKEN.sub(SCRUBBED, text)


def _holds_any(text: str, hints: tuple[str, ...]) -> bool:
    for hint in hints:  # a loop: any() over a generator costs three times as much here
        if hint in text:
            return True
    return False


def cut(text: str, keep: int) -> str:
    """``text`` in at most ``keep`` characters, saying how much was cut."""
    if len(text) <= keep:
        return text
    kept = keep
    while True:
        suffix = f"… [{len(text) - kept} more characters cut]"
        if kept + len(suffix) <= keep:
            return text[:kept] + suffix
        kept = max(0, keep - len(suffix))
        if kept == 0:
            return text[:keep]


def storable(text: str) -> str:
    """``text`` with what no database column holds (NUL, lone surrogates) replaced by U+FFFD."""
    if "\x00" not in text and not _SURROGATE.search(text):
        return text
    return _SURROGATE.sub("\ufffd", text.replace("\x00", "\ufffd"))


def context_scrub(value: Any, *, depth: int = 0) -> Any:
    """A JSON-safe copy of ``value`` with secrets removed and bulk cut short."""
    if depth > MAX_DEPTH:
        return "[nested too deeply]"
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return cut(storable(scrub_secrets(value)), STRING_KEEP)
    if isinstance(value, dict):
        clean: dict[str, Any] = {}
        for key, item in value.items():
            name = storable(str(key))
            if SECRET_NAME.search(name):
                clean[name] = SCRUBBED
            elif name in SDP_KEYS and isinstance(item, str):
                clean[name] = cut(storable(item), SDP_KEEP)
            else:
                clean[name] = context_scrub(item, depth=depth + 1)
        return clean
    if isinstance(value, (list, tuple)):
        items = [context_scrub(item, depth=depth + 1) for item in value[:LIST_KEEP]]
        if len(value) > LIST_KEEP:
            items.append(f"[{len(value) - LIST_KEEP} more items cut]")
        return items
    return cut(storable(scrub_secrets(repr(value))), STRING_KEEP)


def text_scrub(text: str) -> str:
    """A traceback or message with tokens and passwords removed, storable."""
    return storable(scrub_secrets(text))
