"""Rules for what people type: participant names, lobby names and descriptions, chat text, searches."""
from __future__ import annotations

import unicodedata
from typing import Any

from errors.exceptions import InvalidMessageError
from lobbies.exceptions import InvalidNameError
from lobbies.models import (
    CHAT_TEXT_MAX_LENGTH,
    LOBBY_DESCRIPTION_MAX_LENGTH,
    LOBBY_NAME_MAX_LENGTH,
    NAME_MAX_LENGTH,
)

# A search of the lobby list is at most as long as a lobby name.
LOBBY_SEARCH_MAX_LENGTH = LOBBY_NAME_MAX_LENGTH


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
        too_long = f" This one has {len(name)}." if len(name) > NAME_MAX_LENGTH else ""
        raise InvalidNameError(f"A name is 1 to {NAME_MAX_LENGTH} characters after trimming spaces.{too_long}")
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
        too_long = f" This one has {len(name)}." if len(name) > LOBBY_NAME_MAX_LENGTH else ""
        raise InvalidMessageError(
            f"A lobby name is 1 to {LOBBY_NAME_MAX_LENGTH} characters after trimming spaces, with no control "
            f"characters.{too_long}"
        )
    return name


def lobby_description_clean(raw: Any) -> str:
    """An optional line about the lobby; ``None`` and blank are no description."""
    if raw is None:
        return ""
    if not isinstance(raw, str):
        raise InvalidMessageError(
            f"'description' must be a string of at most {LOBBY_DESCRIPTION_MAX_LENGTH} characters."
        )
    description = raw.strip()
    if len(description) > LOBBY_DESCRIPTION_MAX_LENGTH:
        raise InvalidMessageError(
            f"A lobby description is at most {LOBBY_DESCRIPTION_MAX_LENGTH} characters; "
            f"this one has {len(description)}."
        )
    if has_control_characters(description):
        raise InvalidMessageError(
            "A lobby description cannot contain line breaks, control or invisible formatting characters."
        )
    return description


def lobby_search_clean(raw: str | None) -> str:
    """The text to look for in the lobby list ("" lists every lobby)."""
    query = (raw or "").strip()
    if len(query) > LOBBY_SEARCH_MAX_LENGTH:
        raise InvalidMessageError(f"A search is at most {LOBBY_SEARCH_MAX_LENGTH} characters.")
    if has_control_characters(query):
        raise InvalidMessageError("A search cannot contain control or invisible formatting characters.")
    return query


def has_unstorable_characters(text: str) -> bool:
    """NUL (PostgreSQL refuses it in text) or a lone surrogate (no UTF-8 encoding exists for it)."""
    return "\x00" in text or any("\ud800" <= ch <= "\udfff" for ch in text)


def chat_text_clean(raw: Any) -> str:
    if not isinstance(raw, str):
        raise InvalidMessageError("'text' must be a string.")
    if not 1 <= len(raw) <= CHAT_TEXT_MAX_LENGTH or not raw.strip():
        too_long = f" This one has {len(raw)}; nothing was sent." if len(raw) > CHAT_TEXT_MAX_LENGTH else ""
        raise InvalidMessageError(
            f"A chat message is 1 to {CHAT_TEXT_MAX_LENGTH} characters and not only spaces.{too_long}"
        )
    if has_unstorable_characters(raw):
        raise InvalidMessageError("A chat message cannot contain NUL characters or lone surrogates.")
    return raw


def password_clean(raw: Any, *, max_length: int) -> str | None:
    """A lobby password as given (None or a string), checked for what can be hashed."""
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise InvalidMessageError("'password' must be a string.")
    if len(raw) > max_length:
        raise InvalidMessageError(f"A lobby password is at most {max_length} characters.")
    if has_unstorable_characters(raw):
        raise InvalidMessageError("A lobby password cannot contain NUL characters or lone surrogates.")
    return raw
