"""Text to speech on an OpenAI-compatible server: ``POST /v1/audio/speech``, streamed.

The answer is asked for as WAV and decoded as it arrives: the header says
its rate (OpenAI's is 24 kHz; other servers differ), which is converted to
``sample_rate``, and an answer that is not WAV audio is garbage, not speech.
"""
from __future__ import annotations

from collections.abc import AsyncIterator

import numpy as np
import openai
from django.conf import settings

from bots.speech.audio import PcmResampler
from bots.speech.openai_client import client_unavailable_reason, key_headers, provider_error, speech_client
from bots.speech.tts.base import TextToSpeech
from bots.speech.wav import WavStreamDecoder

OUTPUT_RATE = 24_000
READ_BYTES = 4800  # 0.1 s at 24 kHz


class OpenAITTS(TextToSpeech):
    name = "openai"
    sample_rate = OUTPUT_RATE

    def __init__(self, *, base_url: str, model: str, voice: str, key_env: str = "OPENAI_API_KEY") -> None:
        self.base_url = base_url
        self.model = model
        self.default_voice = voice
        self.key_env = key_env
        self._client: openai.AsyncOpenAI | None = None

    @classmethod
    def from_settings(cls) -> OpenAITTS:
        return cls(base_url=settings.VOICEBOT_TTS_OPENAI_BASE_URL, model=settings.VOICEBOT_TTS_OPENAI_MODEL,
                   voice=settings.VOICEBOT_TTS_OPENAI_VOICE, key_env=settings.VOICEBOT_TTS_OPENAI_KEY_ENV)

    def unavailable_reason(self) -> str | None:
        return client_unavailable_reason(self.base_url)

    async def _synthesize(self, text: str, voice: str | None) -> AsyncIterator[np.ndarray]:
        if self._client is None:
            self._client = speech_client(base_url=self.base_url, key_env=self.key_env)
        decoder = WavStreamDecoder()
        resampler: PcmResampler | None = None
        try:
            async with self._client.audio.speech.with_streaming_response.create(
                model=self.model, voice=voice or self.default_voice, input=text, response_format="wav",
                extra_headers=key_headers(self.key_env),
            ) as response:
                async for data in response.iter_bytes(READ_BYTES):
                    samples = decoder.feed(data)
                    if samples.size:
                        if resampler is None:
                            resampler = PcmResampler(decoder.sample_rate, OUTPUT_RATE)
                        yield resampler.push(samples)
        except openai.OpenAIError as exc:
            raise provider_error(exc, self.base_url) from None
        decoder.finish()
        if resampler is not None:
            yield resampler.flush()
