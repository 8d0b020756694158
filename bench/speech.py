"""Speed of the bots' speech layer on this machine: STT, TTS and VAD with the real local models.

Loads the default chains from settings (faster-whisper tiny.en, Piper joe,
espeak-ng, silero), warms them up, then times:

- STT: seconds per utterance and real-time factor (compute / audio), on
  sentences Piper spoke, one at a time through the chain (guard, executor);
- TTS: time to the first chunk and real-time factor, per provider;
- VAD: microseconds per 32 ms window, on speech and on silence.

Prints the numbers; asserts nothing. The machine may be shared: say so with the numbers.

    .venv/bin/python bench/speech.py [--rounds 5]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voicebot_site.settings")
os.environ.setdefault("DEBUG", "1")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
from django.conf import settings  # noqa: E402

from bots.speech.audio import SPEECH_RATE, PcmResampler  # noqa: E402
from bots.speech.providers import speech_warm_up, stt_chain, tts_chain  # noqa: E402
from bots.speech.tts import TextToSpeech  # noqa: E402
from bots.speech.vad import SileroVAD  # noqa: E402

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Please remember to bring your umbrella tomorrow.",
    "The meeting starts at noon in the large room, so do not be late.",
    "Could you tell me the way to the nearest train station?",
]


def median_range(values: list[float], unit: str, scale: float = 1.0) -> str:
    scaled = [value * scale for value in values]
    return f"median {statistics.median(scaled):.3f} {unit} (min {min(scaled):.3f}, max {max(scaled):.3f})"


async def tts_timings(tts: TextToSpeech, text: str) -> tuple[float, float, np.ndarray]:
    """Seconds to the first chunk, total seconds, and the audio."""
    started = time.perf_counter()
    first = None
    chunks = []
    async for chunk in tts.synthesize(text):
        if first is None:
            first = time.perf_counter() - started
        chunks.append(chunk)
    return first or 0.0, time.perf_counter() - started, np.concatenate(chunks)


async def main(rounds: int) -> None:
    print(f"cores: {os.cpu_count()}, speech workers: {settings.VOICEBOT_SPEECH_WORKERS}, "
          f"threads per model call: {settings.VOICEBOT_SPEECH_THREADS}")
    started = time.perf_counter()
    health = await speech_warm_up()
    print(f"warm-up (load and first run of every local model): {time.perf_counter() - started:.2f} s")
    for role, state in health.items():
        print(f"  {role}: " + ", ".join(f"{p.provider}={p.state}" + (f" ({p.reason})" if p.reason else "")
                                        for p in state.providers))

    print("\nTTS (time to first chunk, real-time factor = render time / audio length)")
    speech16k = []
    for provider in tts_chain().providers:
        if provider.unavailable_reason():
            print(f"  {provider.name}: unavailable ({provider.unavailable_reason()})")
            continue
        firsts, factors = [], []
        for _ in range(rounds):
            for text in SENTENCES:
                first, total, audio = await tts_timings(provider, text)
                firsts.append(first)
                factors.append(total / (audio.size / provider.sample_rate))
                if provider.name == "piper" and len(speech16k) < len(SENTENCES):
                    resampler = PcmResampler(provider.sample_rate, SPEECH_RATE)
                    speech16k.append(np.concatenate([resampler.push(audio), resampler.flush()]))
        print(f"  {provider.name}: first chunk {median_range(firsts, 's')}; RTF {median_range(factors, '')}")

    print("\nSTT through the chain (seconds per utterance, RTF = compute / audio length)")
    per_utterance, factors = [], []
    for _ in range(rounds):
        for audio in speech16k:
            started = time.perf_counter()
            transcript = await stt_chain().transcribe(audio, language="en")
            elapsed = time.perf_counter() - started
            per_utterance.append(elapsed)
            factors.append(elapsed / (audio.size / SPEECH_RATE))
    lengths = [audio.size / SPEECH_RATE for audio in speech16k]
    print(f"  {transcript.provider}: utterances of {min(lengths):.1f}-{max(lengths):.1f} s: "
          f"{median_range(per_utterance, 's')}; RTF {median_range(factors, '')}")

    print("\nVAD (silero, one 32 ms window at 16 kHz)")
    vad = SileroVAD()
    size = vad.window_samples
    for label, audio in (("speech", np.concatenate(speech16k)), ("silence", np.zeros(SPEECH_RATE * 10, np.int16))):
        windows = [audio[start:start + size] for start in range(0, audio.size - size + 1, size)]
        vad.reset()
        started = time.perf_counter()
        for window in windows:
            vad.speech_probability(window)
        elapsed = time.perf_counter() - started
        print(f"  {label}: {elapsed / len(windows) * 1e6:.0f} us per window ({len(windows)} windows), "
              f"{elapsed / len(windows) / 0.032 * 100:.2f} % of one core per participant")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="times each sentence is spoken and transcribed")
    asyncio.run(main(parser.parse_args().rounds))
