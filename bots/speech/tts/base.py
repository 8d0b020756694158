"""The interface every text-to-speech provider implements."""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from typing import ClassVar

import numpy as np
from django.conf import settings

from bots.speech.exceptions import ProviderError
from bots.speech.tts.text import speakable


class TextToSpeech(ABC):
    """A provider: text in, int16 mono chunks at ``sample_rate`` out, the first as early as it can.

    Subclasses implement ``_synthesize`` (text already cleaned, never empty);
    ``synthesize`` cleans the text (``tts.text.speakable``: a non-string or
    one over ``VOICEBOT_TTS_MAX_CHARS`` characters is a SpeechInputError,
    text with nothing to say yields nothing) and refuses chunks that are not
    int16 mono audio. ``voice`` is a voice this provider knows, or None (or
    one it does not know) for its default voice. Closing the iterator early
    (a barge-in) stops the rendering.
    """

    name: ClassVar[str]
    sample_rate: int

    @classmethod
    def from_settings(cls) -> TextToSpeech:
        return cls()

    def unavailable_reason(self) -> str | None:
        """Why this provider cannot serve here (not installed, not configured), or None."""
        return None

    @property
    def local(self) -> bool:
        """Whether it runs on this machine (a model to warm up), not behind a network."""
        return False

    async def warm_up(self) -> None:
        """Load the voice and speak once, so that the first real call is not the slow one."""

    async def synthesize(self, text: str, *, voice: str | None = None) -> AsyncIterator[np.ndarray]:
        text = speakable(text, max_chars=settings.VOICEBOT_TTS_MAX_CHARS)
        if not text:
            return
        chunks = self._synthesize(text, voice)
        try:
            async for chunk in chunks:
                if not isinstance(chunk, np.ndarray) or chunk.dtype != np.int16 or chunk.ndim != 1:
                    raise ProviderError("the provider produced something that is not int16 mono audio")
                if chunk.size:
                    yield chunk
        finally:
            await chunks.aclose()

    @abstractmethod
    def _synthesize(self, text: str, voice: str | None) -> AsyncIterator[np.ndarray]: ...
