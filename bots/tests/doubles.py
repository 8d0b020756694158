"""Providers that fail the ways real ones do: they raise, hang, or answer garbage.

They stand in only for the failing provider of a chain; the one that serves
after them is a real model.
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numpy as np

from bots.speech.stt.base import SpeechToText, Transcript
from bots.speech.tts.base import TextToSpeech


class BrokenSTT(SpeechToText):
    """Raises while ``broken``; answers a fixed text once repaired."""

    name = "broken_stt"

    def __init__(self, name: str = "broken_stt") -> None:
        self.name = name
        self.broken = True
        self.calls = 0

    async def _transcribe(self, pcm16k: np.ndarray, language: str) -> Transcript:
        self.calls += 1
        if self.broken:
            raise ConnectionResetError("the model server went away")
        return Transcript(text="repaired", language=language, duration=pcm16k.size / 16000, provider=self.name)


class HangingSTT(SpeechToText):
    name = "hanging_stt"

    async def _transcribe(self, pcm16k: np.ndarray, language: str) -> Transcript:
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")


class GarbageSTT(SpeechToText):
    name = "garbage_stt"

    async def _transcribe(self, pcm16k: np.ndarray, language: str) -> Transcript:
        return {"text": 42}  # type: ignore[return-value]


class BrokenTTS(TextToSpeech):
    name = "broken_tts"
    sample_rate = 22_050

    def __init__(self) -> None:
        self.broken = True

    async def _synthesize(self, text: str, voice: str | None) -> AsyncIterator[np.ndarray]:
        if self.broken:
            raise ConnectionResetError("the voice server went away")
        yield np.full(2205, 1000, dtype=np.int16)


class HangingTTS(TextToSpeech):
    name = "hanging_tts"
    sample_rate = 22_050

    async def _synthesize(self, text: str, voice: str | None) -> AsyncIterator[np.ndarray]:
        await asyncio.sleep(3600)
        yield np.zeros(1, dtype=np.int16)


class GarbageTTS(TextToSpeech):
    name = "garbage_tts"
    sample_rate = 22_050

    async def _synthesize(self, text: str, voice: str | None) -> AsyncIterator[np.ndarray]:
        yield np.ones(100, dtype=np.float64)


class StallingTTS(TextToSpeech):
    """Speaks a first chunk, then hangs: a socket open but dead."""

    name = "stalling_tts"
    sample_rate = 22_050

    async def _synthesize(self, text: str, voice: str | None) -> AsyncIterator[np.ndarray]:
        yield np.full(2205, 1000, dtype=np.int16)
        await asyncio.sleep(3600)
        yield np.zeros(1, dtype=np.int16)
