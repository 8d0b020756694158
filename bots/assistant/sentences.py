"""A language model's token stream cut into speakable sentences as it streams, and the answer-length cut.

Why our own: the sentence tokenizers on PyPI (nltk's punkt, pysbd, blingfire)
cut finished text and need it all; a voice bot must hand the first sentence
to text to speech the moment it is complete, while later tokens still
arrive, and must never wait for the end of the answer. The rules here are
the few that matter for speech:

- a sentence ends at ``.``, ``!``, ``?``, ``…`` (or their CJK forms), after
  any closing quotes or brackets, before white space, or at a line break;
- a ``.`` ends one only when the next word has begun and does not start in
  lower case, and not after an abbreviation (``Dr.``, ``e.g.``, ``etc.``), an
  initial (``J. R. R.``) or a list number (``1.``); ``3.14`` and ``1,000.5``
  have no space after the dot and never end one;
- no tiny fragments: a sentence shorter than ``min_chars`` ("Sure.") is
  joined to the next one (one natural phrase for the voice, not a clipped
  word), except at the end;
- a sentence longer than ``max_chars`` is cut at its last clause mark (``,``
  ``;`` ``:`` dash) or space before the limit, so that a run-on answer still
  starts to play early.

``spoken`` removes the markup models like to emit (``**bold**``, ``# ``,
bullets, backticks). ``AnswerLimit`` cuts an answer at the profile's answer
length in words (and at twelve characters a word, for a stream without
spaces): the sentence that crosses it is cut there and ends the answer.
"""
from __future__ import annotations

import re

ENDS = ".!?…。！？"
CLOSERS = "\"'”’)]»"
ABBREVIATIONS = frozenset({
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "mt", "ft", "vs", "etc", "e.g", "i.e", "cf", "al",
    "approx", "ca", "no", "nos", "vol", "fig", "dept", "inc", "ltd", "co", "corp", "jan", "feb", "mar", "apr",
    "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "mon", "tue", "wed", "thu", "fri", "sat", "sun",
    "u.s", "u.k", "a.m", "p.m", "min", "max", "est", "gen", "gov", "sgt", "capt", "lt", "col", "rev",
})
CLAUSE_MARKS = (", ", "; ", ": ", " — ", " – ", " - ")
_MARKUP = re.compile(r"\*\*|__|`+|^\s*#{1,6}\s+|^\s*(?:[-*•]|\d{1,2}[.)])\s+", re.MULTILINE)
_WORD_BEFORE = re.compile(r"([\w.]+)\.$")
# Characters of a word, for a stream without spaces.
CHARS_PER_WORD = 12


def spoken(sentence: str) -> str:
    """The sentence without markdown markup, its white space made single."""
    return " ".join(_MARKUP.sub("", sentence).split())


class SentenceStream:
    def __init__(self, *, min_chars: int = 20, max_chars: int = 200) -> None:
        if not 0 <= min_chars < max_chars:
            raise ValueError("min_chars must be 0 or more and less than max_chars")
        self.min_chars = min_chars
        self.max_chars = max_chars
        self.reset()

    def reset(self) -> None:
        """Forget what was pushed (the answer starts over with another provider)."""
        self._buffer = ""
        self._scan = 0  # where the search for the next end goes on

    def push(self, text: str) -> list[str]:
        """The sentences that ``text`` completed, in order."""
        self._buffer += text
        sentences = []
        while True:
            sentence = self._next()
            if sentence is None:
                return sentences
            if sentence:
                sentences.append(sentence)

    def flush(self) -> list[str]:
        """The stream ended: what is left, as a last sentence (however short)."""
        rest = spoken(self._buffer)
        self.reset()
        return [rest] if rest else []

    # --- Finding ends ------------------------------------------------------

    def _take(self, end: int) -> str:
        sentence, self._buffer = spoken(self._buffer[:end]), self._buffer[end:]
        self._scan = 0
        return sentence

    def _next(self) -> str | None:
        """The next complete sentence ("" for nothing worth saying), or None when none is complete yet."""
        buffer = self._buffer
        position = self._scan
        while position < len(buffer):
            char = buffer[position]
            if char == "\n":
                if len(spoken(buffer[:position])) >= self.min_chars or not buffer[:position].strip():
                    return self._take(position + 1)
                position += 1
                continue
            if char not in ENDS:
                position += 1
                continue
            end = position + 1
            while end < len(buffer) and (buffer[end] in ENDS or buffer[end] in CLOSERS):
                end += 1
            if end >= len(buffer):
                break  # the next character decides; wait for it
            if not buffer[end].isspace():
                position = end  # 3.14, "e.g.x", a URL: not an end
                continue
            verdict = self._ends_here(buffer, position, end)
            if verdict is None:
                break  # the next word has not begun
            if verdict and len(spoken(buffer[:end])) >= self.min_chars:
                return self._take(end)
            position = end
        self._scan = max(0, min(position, len(buffer)))
        if len(buffer) > self.max_chars:
            return self._take(self._cut(buffer))
        return None

    def _ends_here(self, buffer: str, position: int, end: int) -> bool | None:
        """Whether the mark at ``position`` ends a sentence; None until the next word has begun."""
        if buffer[position] != ".":
            return True  # ! ? …: the mark says it
        following = buffer[end:].lstrip()
        if not following:
            return None
        if following[0].islower():
            return False  # "e.g. the", "approx. ten": the sentence goes on
        match = _WORD_BEFORE.search(buffer[:position + 1])
        if match:
            word = match.group(1).lower()
            if word in ABBREVIATIONS or word.rstrip(".") in ABBREVIATIONS:
                return False
            if len(word) == 1 and word.isalpha():
                return False  # an initial
            if word.isdigit() and not spoken(buffer[:match.start()]):
                return False  # "1. Open the door": a list number
        return True

    def _cut(self, buffer: str) -> int:
        """Where to cut a sentence that is too long: its last clause mark, else its last space, before the limit."""
        window = buffer[:self.max_chars]
        for mark in CLAUSE_MARKS:
            index = window.rfind(mark)
            if index >= self.min_chars:
                return index + len(mark.rstrip())
        index = window.rfind(" ")
        return index if index >= self.min_chars else self.max_chars


class AnswerLimit:
    """Cuts an answer at ``max_words`` words (and ``max_words * 12`` characters)."""

    def __init__(self, max_words: int) -> None:
        if max_words < 1:
            raise ValueError("an answer is at least one word long")
        self.max_words = max_words
        self.max_chars = max_words * CHARS_PER_WORD
        self.words = 0
        self.chars = 0
        self.reached = False

    def take(self, sentence: str) -> str | None:
        """``sentence``, or its part within the limit (then ``reached`` is set); None once it was reached."""
        if self.reached:
            return None
        words = sentence.split()
        room_words = self.max_words - self.words
        room_chars = self.max_chars - self.chars
        if len(words) <= room_words and len(sentence) <= room_chars:
            self.words += len(words)
            self.chars += len(sentence)
            if self.words >= self.max_words:
                self.reached = True
            return sentence
        self.reached = True
        kept: list[str] = []
        length = 0
        for word in words[:room_words]:
            if length + len(word) + bool(kept) > room_chars:
                break
            kept.append(word)
            length += len(word) + (len(kept) > 1)
        if not kept and words and room_chars > 0:
            kept = [words[0][:room_chars]]
        if not kept:
            return None
        self.words += len(kept)
        self.chars += length
        cut = " ".join(kept).rstrip(",;:—–-")
        return cut if cut[-1:] in ENDS else cut + "."
