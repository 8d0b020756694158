"""Rules for what people type: participant names, lobby names, chat text."""
from __future__ import annotations

import unicodedata
from typing import Any

from errors.exceptions import InvalidMessageError
from lobbies.exceptions import InvalidNameError
from lobbies.models import CHAT_TEXT_MAX_LENGTH, LOBBY_NAME_MAX_LENGTH, NAME_MAX_LENGTH


ZERO_WIDTH_JOINER = "\u200d"
# What may stand on either side of a zero-width joiner inside an emoji
# sequence (e.g. 👩‍💻): symbols, skin-tone modifiers, variation selectors.
_EMOJI_PARTS = {"So", "Sk", "Mn"}


def _is_emoji_joiner(text: str, index: int) -> bool:
    return (
        0 < index < len(text) - 1
        and unicodedata.category(text[index - 1]) in _EMOJI_PARTS
        and unicodedata.category(text[index + 1]) == "So"
    )


def has_control_characters(text: str) -> bool:
    # Categories C*: control, format (bidi overrides, zero-width), surrogate,
    # private use, unassigned. None belongs in a name people read, except a
    # zero-width joiner that glues the parts of one emoji together.
    return any(
        unicodedata.category(ch)[0] == "C" and not (ch == ZERO_WIDTH_JOINER and _is_emoji_joiner(text, i))
        for i, ch in enumerate(text)
    )


def participant_name_clean(raw: Any) -> str:
    if not isinstance(raw, str):
        raise InvalidNameError("A name must be a string of 1 to 32 characters.")
    name = raw.strip()
    if not 1 <= len(name) <= NAME_MAX_LENGTH:
        raise InvalidNameError(f"A name is 1 to {NAME_MAX_LENGTH} characters after trimming spaces.")
    if has_control_characters(name):
        raise InvalidNameError("A name cannot contain control or invisible formatting characters.")
    return name


def participant_name_key(name: str) -> str:
    """The form two names are compared in: same key, same name."""
    return unicodedata.normalize("NFKC", name).casefold()


def lobby_name_clean(raw: Any) -> str:
    if not isinstance(raw, str):
        raise InvalidMessageError("'name' must be a string of 1 to 64 characters.")
    name = raw.strip()
    if not 1 <= len(name) <= LOBBY_NAME_MAX_LENGTH or has_control_characters(name):
        raise InvalidMessageError(
            f"A lobby name is 1 to {LOBBY_NAME_MAX_LENGTH} characters, with no control characters."
        )
    return name


def chat_text_clean(raw: Any) -> str:
    if not isinstance(raw, str):
        raise InvalidMessageError("'text' must be a string.")
    if not 1 <= len(raw) <= CHAT_TEXT_MAX_LENGTH or not raw.strip():
        raise InvalidMessageError(f"A chat message is 1 to {CHAT_TEXT_MAX_LENGTH} characters and not only spaces.")
    return raw
