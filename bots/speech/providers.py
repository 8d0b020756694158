"""The speech chains of this process, built from settings.

``VOICEBOT_VAD_PROVIDERS``, ``VOICEBOT_STT_PROVIDERS`` and
``VOICEBOT_TTS_PROVIDERS`` list provider classes by dotted path, in the order
they are tried; each class makes itself from settings (``from_settings``).
The chains are made once per process (models are loaded once and shared by
every bot of a worker); ``speech_warm_up`` loads and runs the local models at
a worker's start, so that no participant waits for a first slow call.
"""
from __future__ import annotations

from functools import cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from bots.speech.chains import RoleHealth, SpeechToTextChain, TextToSpeechChain, VoiceActivityChain
from bots.speech.segmenter import UtteranceSegmenter
from bots.speech.stt.base import SpeechToText
from bots.speech.tts.base import TextToSpeech
from bots.speech.vad import VoiceActivityDetector


def provider_classes(setting: str, base: type) -> list[type]:
    """The classes a provider setting names, or ImproperlyConfigured in one line."""
    classes = []
    for path in getattr(settings, setting):
        try:
            provider = import_string(path)
        except ImportError as exc:
            raise ImproperlyConfigured(f"{setting}: cannot import {path!r} ({exc}).") from None
        if not (isinstance(provider, type) and issubclass(provider, base)) or getattr(provider, "name", None) is None:
            raise ImproperlyConfigured(f"{setting}: {path!r} is not a {base.__name__} provider class.")
        classes.append(provider)
    names = [provider.name for provider in classes]
    if len(set(names)) != len(names):
        raise ImproperlyConfigured(f"{setting} names the same provider twice: {', '.join(names)}.")
    return classes


@cache
def stt_chain() -> SpeechToTextChain:
    providers = [cls.from_settings() for cls in provider_classes("VOICEBOT_STT_PROVIDERS", SpeechToText)]
    return SpeechToTextChain(providers, timeout=settings.VOICEBOT_STT_TIMEOUT)


@cache
def tts_chain() -> TextToSpeechChain:
    providers = [cls.from_settings() for cls in provider_classes("VOICEBOT_TTS_PROVIDERS", TextToSpeech)]
    return TextToSpeechChain(providers, timeout=settings.VOICEBOT_TTS_TIMEOUT)


@cache
def vad_chain() -> VoiceActivityChain:
    classes = provider_classes("VOICEBOT_VAD_PROVIDERS", VoiceActivityDetector)
    return VoiceActivityChain(classes, timeout=settings.VOICEBOT_VAD_TIMEOUT)


async def segmenter_create(*, silence: float | None = None, min_speech: float | None = None) -> UtteranceSegmenter:
    """A segmenter for one participant's audio, with a detector of its own and the settings' timings.

    ``silence`` and ``min_speech`` replace ``VOICEBOT_VAD_SILENCE`` and ``VOICEBOT_VAD_MIN_SPEECH``
    (the assistant ends utterances sooner and lets its endpointing decide the end of a turn, and
    notices speech over it sooner).
    """
    return UtteranceSegmenter(
        await vad_chain().create(),
        threshold=settings.VOICEBOT_VAD_THRESHOLD,
        lead_in=settings.VOICEBOT_VAD_LEAD_IN,
        silence=settings.VOICEBOT_VAD_SILENCE if silence is None else silence,
        min_speech=settings.VOICEBOT_VAD_MIN_SPEECH if min_speech is None else min_speech,
        max_utterance=settings.VOICEBOT_UTTERANCE_MAX,
    )


async def speech_warm_up() -> dict[str, RoleHealth]:
    """Loads and runs every local model of the three chains once; what each role's health is then."""
    chains = (vad_chain(), stt_chain(), tts_chain())
    for chain in chains:
        await chain.warm_up()
    return {chain.role: chain.health() for chain in chains}


def speech_health() -> dict[str, RoleHealth]:
    """Each role's providers and their breakers' states, calling none of them."""
    return {chain.role: chain.health() for chain in (vad_chain(), stt_chain(), tts_chain())}


def chains_reset() -> None:
    """Forget the chains, so that the next use builds them from settings again (tests)."""
    for built in (stt_chain, tts_chain, vad_chain):
        built.cache_clear()
