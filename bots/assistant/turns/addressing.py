"""Whether a turn is for the bot: in a lobby of more than two people, only what names it (where a setting asks).

With one or two people the bot answers every turn (it is a conversation
with it). With more, people talk to each other too; where
``VOICEBOT_ASSISTANT_ADDRESS_IN_GROUPS`` (or the profile) asks for it, the
bot answers only a turn that says its name or a wake word, as whole words,
ignoring case, accents and punctuation ("Hey, Jarvis!", "jarvis's idea"), the
bot's first name alone counting too ("Ada" for "Ada Lovelace").
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings

_NOT_WORD = re.compile(r"[^\w]+")
# Names shorter than this are not matched by their first word alone.
FIRST_NAME_MIN = 3


def words_of(text: str) -> list[str]:
    """Lower-case words without accents or punctuation; a possessive 's is dropped."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(char for char in decomposed if not unicodedata.combining(char))
    plain = re.sub(r"['’]s\b", "", plain)
    return [word for word in _NOT_WORD.split(plain) if word]


def _contains(words: list[str], phrase: list[str]) -> bool:
    if not phrase:
        return False
    size = len(phrase)
    return any(words[index:index + size] == phrase for index in range(len(words) - size + 1))


@dataclass(frozen=True, slots=True)
class Addressing:
    # Answer only when addressed, in a lobby of more than two people.
    in_groups: bool = True
    wake_words: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, *, in_groups: bool | None = None, wake_words: Iterable[str] | None = None) -> Addressing:
        """From settings; a profile's own choice (when it has one) replaces each."""
        return cls(
            in_groups=settings.VOICEBOT_ASSISTANT_ADDRESS_IN_GROUPS if in_groups is None else in_groups,
            wake_words=tuple(settings.VOICEBOT_ASSISTANT_WAKE_WORDS if wake_words is None else wake_words),
        )

    def names(self, bot_name: str) -> list[list[str]]:
        phrases = [words_of(bot_name), *(words_of(word) for word in self.wake_words)]
        full = phrases[0]
        if len(full) > 1 and len(full[0]) >= FIRST_NAME_MIN:
            phrases.append(full[:1])
        return [phrase for phrase in phrases if phrase]

    def addressed(self, text: str, *, bot_name: str, humans: int) -> bool:
        """Whether the bot should answer ``text``, said in a lobby of ``humans`` people (bots not counted)."""
        if not self.in_groups or humans <= 2:
            return True
        words = words_of(text)
        return any(_contains(words, phrase) for phrase in self.names(bot_name))
