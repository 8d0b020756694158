"""What people may type: participant names, lobby names, chat text."""
from __future__ import annotations

from typing import Any

import pytest

from errors.exceptions import InvalidMessageError
from lobbies.exceptions import InvalidNameError
from lobbies.validation import chat_text_clean, lobby_name_clean, participant_name_clean, participant_name_key


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Ann", "Ann"),
        ("  Ann  ", "Ann"),
        ("\tAnn\n", "Ann"),
        ("\u3000Ann\u3000", "Ann"),
        ("A", "A"),
        ("x" * 32, "x" * 32),
        ("  " + "x" * 32 + "  ", "x" * 32),
        ("Ann Marie", "Ann Marie"),
        ("Zoë", "Zoë"),
        ("李小龍", "李小龍"),
        ("Ann 🎧", "Ann 🎧"),
    ],
)
def test_participant_name_is_trimmed_and_kept(raw: str, clean: str) -> None:
    assert participant_name_clean(raw) == clean


@pytest.mark.parametrize(
    "raw",
    ["", " ", "\t\n", "x" * 33, "  " + "x" * 33 + "  "],
    ids=["empty", "space", "whitespace", "33", "33-after-trimming"],
)
def test_participant_name_outside_1_to_32_characters_is_refused(raw: str) -> None:
    with pytest.raises(InvalidNameError, match="1 to 32"):
        participant_name_clean(raw)


@pytest.mark.parametrize(
    "raw",
    ["Ann\x00", "A\x07nn", "Ann\nBob", "Ann\rBob", "Ann\x1bBob", "Ann\x7f", "Ann\x85Bob",
     "Ann\u200bBob", "Ann\u200dBob", "Ann\u202eboB", "\u2066Ann\u2069", "Ann\ufeff", "Ann\ue000", "Ann\U000e0041"],
    ids=["nul", "bell", "newline", "carriage-return", "escape", "delete", "next-line",
         "zero-width-space", "zero-width-joiner", "right-to-left-override", "isolates", "byte-order-mark",
         "private-use", "tag-character"],
)
def test_participant_name_with_control_or_format_characters_is_refused(raw: str) -> None:
    with pytest.raises(InvalidNameError, match="control or invisible"):
        participant_name_clean(raw)


@pytest.mark.parametrize(
    "raw", ["\U0001f469\u200d\U0001f4bb", "Dev \U0001f469\U0001f3fd\u200d\U0001f4bb", "\u2764\ufe0f\u200d\U0001f525"],
    ids=["technologist", "with-skin-tone", "with-variation-selector"],
)
def test_participant_name_with_an_emoji_zwj_sequence_is_accepted(raw: str) -> None:
    assert participant_name_clean(raw) == raw


@pytest.mark.parametrize("raw", [None, 42, 4.2, True, ["Ann"], {"name": "Ann"}, b"Ann"])
def test_participant_name_that_is_not_a_string_is_refused(raw: Any) -> None:
    with pytest.raises(InvalidNameError, match="must be a string"):
        participant_name_clean(raw)


def test_invalid_name_error_is_typed_for_the_client() -> None:
    with pytest.raises(InvalidNameError) as caught:
        participant_name_clean("")

    assert caught.value.code == "invalid_name"
    assert caught.value.http_status == 400
    assert caught.value.category == "validation"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Ann", "ann"),
        ("ANN", "aNn"),
        ("STRASSE", "straße"),
        ("ΣΊΣΥΦΟΣ", "σίσυφος"),
        ("Ａｎｎ", "ann"),
        ("ﬁona", "FIONA"),
        ("Zoë", "ZOE\u0308"),
    ],
    ids=["ascii", "mixed", "sharp-s", "final-sigma", "full-width", "ligature", "combining-diaeresis"],
)
def test_participant_name_key_is_the_same_for_names_that_differ_in_case(a: str, b: str) -> None:
    assert participant_name_key(a) == participant_name_key(b)


@pytest.mark.parametrize(("a", "b"), [("Ann", "Anne"), ("Ann", "Ann 2"), ("Zoe", "Zoë")])
def test_participant_name_key_tells_different_names_apart(a: str, b: str) -> None:
    assert participant_name_key(a) != participant_name_key(b)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [("Room", "Room"), ("  Friday call  ", "Friday call"), ("x" * 64, "x" * 64), ("Salle 🎙", "Salle 🎙")],
)
def test_lobby_name_is_trimmed_and_kept(raw: str, clean: str) -> None:
    assert lobby_name_clean(raw) == clean


@pytest.mark.parametrize(
    "raw", ["", "   ", "x" * 65, "Room\x00", "Room\n2", "Room\u202e"],
    ids=["empty", "blank", "65", "nul", "newline", "bidi-override"],
)
def test_lobby_name_outside_the_rules_is_invalid_message(raw: str) -> None:
    with pytest.raises(InvalidMessageError, match="1 to 64"):
        lobby_name_clean(raw)


@pytest.mark.parametrize("raw", [None, 7, ["Room"], False])
def test_lobby_name_that_is_not_a_string_is_invalid_message(raw: Any) -> None:
    with pytest.raises(InvalidMessageError, match="must be a string"):
        lobby_name_clean(raw)


@pytest.mark.parametrize("raw", ["hi", " hi ", "x" * 2000, "line one\nline two", "🎉"])
def test_chat_text_is_kept_as_sent(raw: str) -> None:
    assert chat_text_clean(raw) == raw


@pytest.mark.parametrize("raw", ["", "   ", "\n\t", "x" * 2001], ids=["empty", "spaces", "whitespace", "2001"])
def test_chat_text_that_is_empty_or_too_long_is_invalid_message(raw: str) -> None:
    with pytest.raises(InvalidMessageError, match="1 to 2000"):
        chat_text_clean(raw)


@pytest.mark.parametrize("raw", [None, 1, ["hi"], {"text": "hi"}])
def test_chat_text_that_is_not_a_string_is_invalid_message(raw: Any) -> None:
    with pytest.raises(InvalidMessageError, match="must be a string"):
        chat_text_clean(raw)
