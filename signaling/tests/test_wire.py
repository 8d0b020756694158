"""Frames' JSON (signaling.wire): orjson, with the standard library's answer where the two differ."""
from __future__ import annotations

import json

import pytest

from signaling.wire import frame_dumps, frame_loads


@pytest.mark.parametrize("text", [
    '{"type": "relay_ice_candidate", "peer_id": "p", "candidate": {"candidate": "", "sdpMLineIndex": 0}}',
    '{"type": "chat", "text": "h\\u00e9 \\ud83d\\ude00"}',
    '[1, 2.5, null, true, "x"]',
    # orjson refuses these; json reads them, and so does the server, as it always did.
    '{"text": "\\ud800"}',
    '{"n": NaN, "m": -Infinity}',
])
def test_frame_loads_reads_what_json_reads(text):
    expected = json.loads(text)
    got = frame_loads(text)
    assert json.dumps(got, sort_keys=True) == json.dumps(expected, sort_keys=True)


def test_an_integer_beyond_64_bits_reads_as_a_float():
    # orjson's one difference that stands: no field of a frame takes such a number
    # (sdpMLineIndex is at most 1024), so the frame is refused either way.
    assert frame_loads('{"n": 123456789012345678901234567890}') == {"n": 1.2345678901234568e29}


@pytest.mark.parametrize("text", ["", "{", '{"a": }', "[1,]", "{'a': 1}", "nul"])
def test_frame_loads_refuses_what_is_not_json_with_a_value_error(text):
    with pytest.raises(ValueError):
        frame_loads(text)


def test_deep_nesting_is_an_error_not_a_crash():
    with pytest.raises((ValueError, RecursionError)):
        frame_loads("[" * 100_000 + "]" * 100_000)


@pytest.mark.parametrize("value", [
    {"type": "ice_candidate", "peer_id": "p", "candidate": {"candidate": "candidate:1 1 udp 1 1.2.3.4 5 typ host"}},
    {"type": "chat", "text": "h\u00e9 \U0001f600", "in_reply_to": None},
    # orjson refuses these; json writes them.
    {"in_reply_to": "\ud800"},
    {"n": 2**70},
])
def test_frame_dumps_writes_json_text_of_the_same_value(value):
    text = frame_dumps(value)
    assert isinstance(text, str)
    assert json.loads(text) == value
