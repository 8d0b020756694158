"""Speech to text: the interface (``base``) and its providers.

``VOICEBOT_STT_PROVIDERS`` names them by these paths, e.g.
``bots.speech.stt.FasterWhisperSTT``.
"""
from bots.speech.stt.base import SpeechToText, Transcript
from bots.speech.stt.openai_api import OpenAISTT
from bots.speech.stt.whisper import FasterWhisperSTT

__all__ = ["FasterWhisperSTT", "OpenAISTT", "SpeechToText", "Transcript"]
