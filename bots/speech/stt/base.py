"""The interface every speech-to-text provider implements, and the checks of its input."""
from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from bots.speech.audio import SPEECH_RATE, check_pcm
from bots.speech.exceptions import SpeechInputError

# Longest audio one call may transcribe; the segmenter's pieces are far shorter.
MAX_SECONDS = 120
# A BCP 47-like language tag: "en", "en-US", "pt-br".
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*")


@dataclass(frozen=True, slots=True)
class Transcript:
    text: str
    language: str
    duration: float  # seconds of audio transcribed
    provider: str


def check_language(language: object) -> str:
    """The language's primary subtag in lower case ("en-US" -> "en"), or SpeechInputError."""
    if not isinstance(language, str) or not _LANGUAGE.fullmatch(language):
        raise SpeechInputError(f"The language must be a tag such as 'en' or 'en-US', not {language!r}.")
    return language.split("-", 1)[0].lower()


def check_utterance(pcm16k: object) -> np.ndarray:
    pcm = check_pcm(pcm16k)
    if pcm.size > MAX_SECONDS * SPEECH_RATE:
        raise SpeechInputError(f"One transcription takes at most {MAX_SECONDS} s of audio, "
                               f"not {pcm.size / SPEECH_RATE:.0f} s.")
    return pcm


class SpeechToText(ABC):
    """A provider: 16 kHz mono int16 audio in, a Transcript out.

    Subclasses implement ``_transcribe``; ``transcribe`` checks the input
    first, and answers an empty Transcript for empty audio without calling
    the provider.
    """

    name: ClassVar[str]

    @classmethod
    def from_settings(cls) -> SpeechToText:
        return cls()

    def unavailable_reason(self) -> str | None:
        """Why this provider cannot serve here (not installed, not configured), or None."""
        return None

    def supports_language(self, language: str) -> bool:
        return True

    @property
    def local(self) -> bool:
        """Whether it runs in this process (a model to warm up), not behind a network."""
        return False

    async def warm_up(self) -> None:
        """Load and run the model once, so that the first real call is not the slow one."""

    async def transcribe(self, pcm16k: np.ndarray, *, language: str) -> Transcript:
        pcm = check_utterance(pcm16k)
        language = check_language(language)
        if pcm.size == 0:
            return Transcript(text="", language=language, duration=0.0, provider=self.name)
        return await self._transcribe(pcm, language)

    @abstractmethod
    async def _transcribe(self, pcm16k: np.ndarray, language: str) -> Transcript: ...
