"""Text to speech: the interface (``base``), text cleaning (``text``) and the providers.

``VOICEBOT_TTS_PROVIDERS`` names them by these paths, e.g.
``bots.speech.tts.PiperTTS``.
"""
from bots.speech.tts.base import TextToSpeech
from bots.speech.tts.espeak import EspeakTTS
from bots.speech.tts.openai_api import OpenAITTS
from bots.speech.tts.piper import PiperTTS

__all__ = ["EspeakTTS", "OpenAITTS", "PiperTTS", "TextToSpeech"]
