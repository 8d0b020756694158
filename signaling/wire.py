"""JSON text of WebSocket frames, read and written with orjson.

orjson decodes and encodes a frame several times faster than the standard
library, which matters on the relay path (every relay is one decode and one
encode). Where the two disagree the standard library's answer stands, so
that what the server accepts and sends is what it always was: orjson refuses
a few inputs ``json`` reads (``NaN`` and ``Infinity``, a lone surrogate such as
``"\\ud800"``) and a few values ``json`` writes (a lone surrogate, an integer
beyond 64 bits); those take the standard library's slower path. One
difference stands: orjson reads an integer beyond 64 bits as a float; no
field of a frame takes such a number (``sdpMLineIndex`` is at most 1024, a
boolean is a boolean), so such a frame is refused as before. Output is
compact UTF-8 JSON (``json`` wrote ASCII with spaces after separators): the
same values, fewer bytes.
"""
from __future__ import annotations

import json
from typing import Any

import orjson

_orjson_loads = orjson.loads
_orjson_dumps = orjson.dumps
_DecodeError = orjson.JSONDecodeError


def frame_loads(text: str) -> Any:
    """The JSON value of ``text``; ValueError (or RecursionError) when it is not JSON."""
    try:
        return _orjson_loads(text)
    except _DecodeError:
        # What orjson refuses and json reads (NaN, a lone surrogate) reads as it always did.
        return json.loads(text)


def frame_dumps(value: Any) -> str:
    """``value`` as JSON text."""
    try:
        return _orjson_dumps(value).decode()
    except TypeError:
        # A lone surrogate or an integer beyond 64 bits: json writes them (escaped).
        return json.dumps(value)
