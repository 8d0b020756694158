"""Text made safe to speak, and cut into pieces a voice renders one by one.

Chat text can hold anything a JSON string can: lone surrogates (which cannot
be encoded), NUL and other control characters, odd whitespace. ``speakable``
keeps what a voice can read; ``pieces`` cuts it at sentence ends, and a
sentence too long for a quick first chunk at a comma or a space, so that
speech starts after the first piece is rendered, not the whole text.
"""
from __future__ import annotations

import re
import unicodedata

from bots.speech.exceptions import SpeechInputError

MAX_PIECE_CHARS = 250
_SURROGATES = re.compile("[\ud800-\udfff]")
_SENTENCE_END = re.compile(r"(?<=[.!?;:…。！？])\s+|\n+")
_SPACES = re.compile(r"\s+")


def speakable(text: object, *, max_chars: int) -> str:
    """``text`` cleaned for a voice ("" when nothing is left), or SpeechInputError."""
    if not isinstance(text, str):
        raise SpeechInputError(f"The text to speak must be a string, not {type(text).__name__}.")
    if len(text) > max_chars:
        raise SpeechInputError(f"The text to speak is {len(text)} characters; the limit is {max_chars}.")
    text = _SURROGATES.sub("", text)
    text = unicodedata.normalize("NFC", text)
    # Control and format characters (NUL, escapes, zero-width marks) read as nothing, or as a pause.
    kept = []
    for char in text:
        category = unicodedata.category(char)
        if char == "\n":
            kept.append(char)
        elif category in ("Cc", "Zl", "Zp"):
            kept.append(" ")
        elif category not in ("Cf", "Cs", "Co", "Cn"):
            kept.append(char)
    lines = (_SPACES.sub(" ", line).strip() for line in "".join(kept).split("\n"))
    return "\n".join(line for line in lines if line)


def pieces(text: str, *, max_chars: int = MAX_PIECE_CHARS) -> list[str]:
    """``text`` in sentence-sized pieces of at most ``max_chars`` characters."""
    result = []
    for sentence in _SENTENCE_END.split(text):
        sentence = sentence.strip()
        while len(sentence) > max_chars:
            cut = max(sentence.rfind(", ", 0, max_chars), sentence.rfind(" ", 0, max_chars))
            cut = cut + 1 if cut > 0 else max_chars
            result.append(sentence[:cut].strip())
            sentence = sentence[cut:].strip()
        if sentence:
            result.append(sentence)
    return result
