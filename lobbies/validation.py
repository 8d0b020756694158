"""Rules for what people type: participant names, lobby names, chat text."""
from __future__ import annotations

import unicodedata
from typing import Any

from errors.exceptions import InvalidMessageError
from lobbies.exceptions import InvalidNameError
from lobbies.models import CHAT_TEXT_MAX_LENGTH, LOBBY_NAME_MAX_LENGTH, NAME_MAX_LENGTH


def has_control_characters(text: str) -> bool:
    # Categories C*: control, format (bidi overrides, zero-width), surrogate,
    # private use, unassigned. None belongs in a name people read.
    return any(unicodedata.category(ch)[0] == "C" for ch in text)


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
