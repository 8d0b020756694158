"""Text to speech by Debian's ``espeak-ng``: robotic, but it needs no model and is always fast.

The last fallback of the default chain. It runs as a subprocess (no CPU on the
event loop), reads the text on stdin (so no text is ever taken for an option)
and streams a WAV on stdout, decoded as it arrives. Without the binary it
reports itself unavailable and says how to install it (``make speech-packages``).
"""
from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import AsyncIterator

import numpy as np
from django.conf import settings

from bots.speech.audio import PcmResampler
from bots.speech.exceptions import ProviderError
from bots.speech.tts.base import TextToSpeech
from bots.speech.wav import WavStreamDecoder

OUTPUT_RATE = 22_050  # espeak-ng's own rate
READ_BYTES = 8192
_VOICE = re.compile(r"[a-z]{2,3}(-[a-z0-9]+)*(\+[a-z0-9]+)?")


class EspeakTTS(TextToSpeech):
    name = "espeak"
    sample_rate = OUTPUT_RATE

    def __init__(self, *, voice: str = "en-us", binary: str = "espeak-ng", words_per_minute: int = 165) -> None:
        self.default_voice = voice
        self.binary = binary
        self.words_per_minute = words_per_minute

    @classmethod
    def from_settings(cls) -> EspeakTTS:
        return cls(voice=settings.VOICEBOT_ESPEAK_VOICE)

    @property
    def local(self) -> bool:
        return True

    def unavailable_reason(self) -> str | None:
        if shutil.which(self.binary) is None:
            return f"{self.binary} is not installed (Debian: apt-get install espeak-ng, or make speech-packages)"
        return None

    async def warm_up(self) -> None:
        async for _ in self.synthesize("Ready."):
            pass

    async def _synthesize(self, text: str, voice: str | None) -> AsyncIterator[np.ndarray]:
        path = shutil.which(self.binary)
        if path is None:
            raise ProviderError(self.unavailable_reason() or "espeak-ng is missing")
        chosen = voice if voice and _VOICE.fullmatch(voice) else self.default_voice
        process = await asyncio.create_subprocess_exec(
            path, "--stdout", "-v", chosen, "-s", str(self.words_per_minute),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        decoder = WavStreamDecoder()
        resampler: PcmResampler | None = None
        try:
            process.stdin.write(text.encode("utf-8") + b"\n")
            await process.stdin.drain()
            process.stdin.close()
            while data := await process.stdout.read(READ_BYTES):
                samples = decoder.feed(data)
                if samples.size:
                    if resampler is None:
                        resampler = PcmResampler(decoder.sample_rate, OUTPUT_RATE)
                    yield resampler.push(samples)
            stderr = (await process.stderr.read()).decode("utf-8", "replace").strip()
            if await process.wait() != 0:
                first_line = stderr.splitlines()[0][:200] if stderr else "no message"
                raise ProviderError(f"espeak-ng exited with {process.returncode}: {first_line}")
            decoder.finish()
            if resampler is not None:
                yield resampler.flush()
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
