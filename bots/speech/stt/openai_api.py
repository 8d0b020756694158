"""Speech to text on an OpenAI-compatible server: ``POST /v1/audio/transcriptions``."""
from __future__ import annotations

import numpy as np
import openai
from django.conf import settings

from bots.speech.audio import SPEECH_RATE
from bots.speech.exceptions import ProviderError
from bots.speech.openai_client import client_unavailable_reason, key_headers, provider_error, speech_client
from bots.speech.stt.base import SpeechToText, Transcript
from bots.speech.wav import wav_encode


class OpenAISTT(SpeechToText):
    name = "openai"

    def __init__(self, *, base_url: str, model: str, key_env: str = "OPENAI_API_KEY") -> None:
        self.base_url = base_url
        self.model = model
        self.key_env = key_env
        self._client: openai.AsyncOpenAI | None = None

    @classmethod
    def from_settings(cls) -> OpenAISTT:
        return cls(base_url=settings.VOICEBOT_STT_OPENAI_BASE_URL, model=settings.VOICEBOT_STT_OPENAI_MODEL,
                   key_env=settings.VOICEBOT_STT_OPENAI_KEY_ENV)

    def unavailable_reason(self) -> str | None:
        return client_unavailable_reason(self.base_url)

    async def _transcribe(self, pcm16k: np.ndarray, language: str) -> Transcript:
        if self._client is None:
            self._client = speech_client(base_url=self.base_url, key_env=self.key_env)
        try:
            answer = await self._client.audio.transcriptions.create(
                model=self.model,
                file=("utterance.wav", wav_encode(pcm16k, SPEECH_RATE), "audio/wav"),
                language=language,
                response_format="json",
                extra_headers=key_headers(self.key_env),
            )
        except openai.OpenAIError as exc:
            raise provider_error(exc, self.base_url) from None
        text = getattr(answer, "text", None)
        if not isinstance(text, str):
            raise ProviderError("the transcription answer has no text")
        return Transcript(text=text.strip(), language=language, duration=pcm16k.size / SPEECH_RATE,
                          provider=self.name)
