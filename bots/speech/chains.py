"""The providers of one role in an ordered failover chain, every call guarded.

A chain is itself a provider of its role (a ``SpeechToText``, a
``TextToSpeech``, a maker of detectors), so a bot never knows which provider
served. Each call tries the providers in order and the first that answers
serves. Each provider is a named dependency (``<role>.<provider>``, e.g.
``stt.faster_whisper``) with a circuit breaker of its own, and each call has
a deadline: a provider that raises, hangs past the deadline, or answers
garbage is a failure and the next one is tried; one whose breaker is open
is skipped at once. When every provider failed the chain raises
``SpeechUnavailableError``, naming each provider and why.

Text to speech commits to a provider at its first chunk (LiveKit's rule:
audio that went out is never spoken twice): the first chunk has the deadline,
then each next chunk; a failure after the first chunk ends the stream with
``SpeechUnavailableError(partial=True)``. Which provider speaks is set in
``tts_speaking`` at that first chunk, for whoever reads the stream (a turn's
record names it).

A bot that met ``SpeechUnavailableError`` stays up, reports ``unavailable``,
and calls ``probe()`` now and then (its calls respect the breakers: nothing
reaches a provider before its breaker lets a trial through); ``health()``
tells the state of every provider without calling any.
"""
from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

import numpy as np
from django.conf import settings

from bots.speech.audio import SPEECH_RATE, WEBRTC_RATE, PcmResampler
from bots.speech.exceptions import ProviderError, ProviderFailure, SpeechUnavailableError
from bots.speech.executor import run_blocking
from bots.speech.guard import DependencyUnavailableError, dependency
from bots.speech.stt.base import SpeechToText, Transcript
from bots.speech.tts.base import TextToSpeech
from bots.speech.vad import VoiceActivityDetector

logger = logging.getLogger("voicebot.bots.speech")

# Loading and first run of a model may take this long, on a busy machine.
WARM_UP_TIMEOUT = 120.0

# The provider whose audio the current task is reading from a text-to-speech chain, set when its
# first chunk is handed on. An async generator runs in the context of the task that iterates it,
# so the reader sees it right after that chunk; a chain object is shared by every bot of the
# process, so this cannot be an attribute of the chain.
tts_speaking: contextvars.ContextVar[str | None] = contextvars.ContextVar("tts_speaking", default=None)


class Provider(Protocol):
    name: str

    def unavailable_reason(self) -> str | None: ...


P = TypeVar("P", bound=Provider)


@dataclass(frozen=True, slots=True)
class ProviderHealth:
    provider: str
    dependency: str
    # closed / half_open / open (the breaker), or unavailable (cannot run here).
    state: str
    reason: str | None
    retry_after: float | None


@dataclass(frozen=True, slots=True)
class RoleHealth:
    role: str
    providers: tuple[ProviderHealth, ...]

    @property
    def available(self) -> bool:
        """Whether some provider may be called now (its breaker closed, or letting a trial through)."""
        return any(provider.state in ("closed", "half_open") for provider in self.providers)


def failure_reason(exc: BaseException, timeout: float) -> str:
    """Why a provider failed, in words that hold no secret (a provider's own exception text may).

    A guarded call raises ``DependencyUnavailableError``: refused (no cause, the
    breaker is open) or failed (the provider's exception is its cause).
    """
    if isinstance(exc, DependencyUnavailableError):
        if exc.__cause__ is None:
            return f"circuit open, retry in {exc.retry_after:g} s"
        exc = exc.__cause__
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout:g} s"
    if isinstance(exc, ProviderError):
        return exc.reason
    return f"failed with {type(exc).__name__}"


def unexpected(exc: BaseException) -> bool:
    """Whether a failure is a surprise worth a traceback in the log (not a refusal, deadline or provider error)."""
    if isinstance(exc, DependencyUnavailableError):
        if exc.__cause__ is None:
            return False
        exc = exc.__cause__
    return not isinstance(exc, (TimeoutError, ProviderError))


class ProviderChain(Generic[P]):
    role: str

    def __init__(self, providers: Sequence[P], *, timeout: float) -> None:
        if not providers:
            raise ValueError(f"a {self.role} chain needs at least one provider")
        names = [provider.name for provider in providers]
        if len(set(names)) != len(names):
            raise ValueError(f"two {self.role} providers share a name: {names}")
        self.providers = tuple(providers)
        self.timeout = timeout
        self._warming: asyncio.Task[None] | None = None

    def dependency_name(self, provider: P) -> str:
        return f"{self.role}.{provider.name}"

    def health(self) -> RoleHealth:
        states = []
        for provider in self.providers:
            name = self.dependency_name(provider)
            reason = provider.unavailable_reason()
            if reason is not None:
                states.append(ProviderHealth(provider.name, name, "unavailable", reason, None))
                continue
            guarded = dependency(name)
            state = guarded.state
            states.append(ProviderHealth(provider.name, name, state, None,
                                         guarded.retry_after() if state == "open" else None))
        return RoleHealth(self.role, tuple(states))

    def _failed(self, provider: P, exc: BaseException, failures: list[ProviderFailure]) -> None:
        failure = ProviderFailure(provider.name, failure_reason(exc, self.timeout))
        failures.append(failure)
        logger.warning("%s provider %s failed: %s", self.role, provider.name, failure.reason,
                       exc_info=unexpected(exc))

    def _unavailable(self, failures: list[ProviderFailure], *, partial: bool = False) -> SpeechUnavailableError:
        waits = [health.retry_after for health in self.health().providers if health.retry_after]
        retry_after = min(waits) if waits else settings.VOICEBOT_RETRY_AFTER
        return SpeechUnavailableError(role=self.role, failures=failures, retry_after=retry_after, partial=partial)

    async def warm_up(self) -> None:
        """Loads and runs every local provider once (through its breaker); failures are logged."""
        for provider in self._ready([]):
            if provider.local:
                try:
                    await dependency(self.dependency_name(provider)).call(provider.warm_up, timeout=WARM_UP_TIMEOUT)
                except Exception as exc:  # noqa: BLE001 - a provider that cannot warm up is tried later
                    self._failed(provider, exc, [])

    async def warm_up_once(self) -> None:
        """``warm_up`` the first time a bot of this process asks; the bots asking meanwhile wait for it."""
        loop = asyncio.get_running_loop()
        if self._warming is None or self._warming.get_loop() is not loop:
            self._warming = loop.create_task(self.warm_up())
        await asyncio.shield(self._warming)

    def _ready(self, failures: list[ProviderFailure]) -> Iterator[P]:
        """The providers that can run here, in order; the others go into ``failures`` as they are met."""
        for provider in self.providers:
            reason = provider.unavailable_reason()
            if reason is None:
                yield provider
            else:
                failures.append(ProviderFailure(provider.name, reason))


class SpeechToTextChain(ProviderChain[SpeechToText], SpeechToText):
    role = "stt"
    name = "chain"

    async def _transcribe(self, pcm16k: np.ndarray, language: str) -> Transcript:
        failures: list[ProviderFailure] = []
        for provider in self._ready(failures):
            if not provider.supports_language(language):
                failures.append(ProviderFailure(provider.name, f"does not understand language {language!r}"))
                continue

            async def transcribe(provider: SpeechToText = provider) -> Transcript:
                transcript = await provider.transcribe(pcm16k, language=language)
                if not isinstance(transcript, Transcript) or not isinstance(transcript.text, str):
                    raise ProviderError("the provider answered something that is not a transcript")
                return transcript

            try:
                return await dependency(self.dependency_name(provider)).call(transcribe, timeout=self.timeout)
            except Exception as exc:  # noqa: BLE001 - any failure of a provider passes to the next
                self._failed(provider, exc, failures)
        raise self._unavailable(failures)

    async def probe(self, *, language: str = "en") -> bool:
        """Whether a provider answers now (half a second of silence to transcribe)."""
        try:
            await self.transcribe(np.zeros(SPEECH_RATE // 2, dtype=np.int16), language=language)
        except SpeechUnavailableError:
            return False
        return True


class TextToSpeechChain(ProviderChain[TextToSpeech], TextToSpeech):
    """Chunks at ``sample_rate`` (48 kHz by default, WebRTC's) whichever provider speaks."""

    role = "tts"
    name = "chain"

    def __init__(self, providers: Sequence[TextToSpeech], *, timeout: float, sample_rate: int = WEBRTC_RATE) -> None:
        super().__init__(providers, timeout=timeout)
        self.sample_rate = sample_rate

    async def _synthesize(self, text: str, voice: str | None) -> AsyncIterator[np.ndarray]:
        failures: list[ProviderFailure] = []
        for provider in self._ready(failures):
            guarded = dependency(self.dependency_name(provider))
            stream = provider.synthesize(text, voice=voice)
            try:
                try:
                    async with guarded.attempt(timeout=self.timeout):
                        first = await anext(stream, None)
                except Exception as exc:  # noqa: BLE001 - any failure before audio went out passes to the next
                    self._failed(provider, exc, failures)
                    continue
                if first is None:
                    return  # nothing to say (punctuation only): a defined, silent answer
                resampler = PcmResampler(provider.sample_rate, self.sample_rate)
                tts_speaking.set(provider.name)
                yield resampler.push(first)
                while True:
                    try:
                        # Never refused (the stream is under way); a failure or a hang counts against it.
                        async with guarded.watch(), asyncio.timeout(self.timeout):
                            chunk = await anext(stream, None)
                    except Exception as exc:  # noqa: BLE001 - audio went out: no other provider speaks it again
                        self._failed(provider, exc, failures)
                        raise self._unavailable(failures[-1:], partial=True) from None
                    if chunk is None:
                        break
                    yield resampler.push(chunk)
                yield resampler.flush()
                return
            finally:
                await stream.aclose()
        raise self._unavailable(failures)

    async def probe(self) -> bool:
        """Whether a provider speaks now (up to its first chunk of a short word)."""
        stream = self.synthesize("OK.")
        try:
            return await anext(stream, None) is not None
        except SpeechUnavailableError:
            return False
        finally:
            await stream.aclose()


class VoiceActivityChain(ProviderChain[type[VoiceActivityDetector]]):
    """Makes each participant's detector from the first provider that loads and answers."""

    role = "vad"

    def __init__(self, providers: Sequence[type[VoiceActivityDetector]], *, timeout: float) -> None:
        super().__init__(providers, timeout=timeout)

    async def create(self) -> VoiceActivityDetector:
        failures: list[ProviderFailure] = []
        for provider in self._ready(failures):
            try:
                return await dependency(self.dependency_name(provider)).call(
                    lambda provider=provider: run_blocking(_detector_checked, provider.from_settings),
                    timeout=self.timeout,
                )
            except Exception as exc:  # noqa: BLE001 - any failure of a provider passes to the next
                self._failed(provider, exc, failures)
        raise self._unavailable(failures)

    async def warm_up(self) -> None:
        """Makes one detector (loading the model files into the page cache)."""
        try:
            await self.create()
        except SpeechUnavailableError as exc:
            logger.warning("no voice activity detector: %s", exc)

    async def probe(self) -> bool:
        try:
            await self.create()
        except SpeechUnavailableError:
            return False
        return True


def _detector_checked(cancelled: threading.Event, make: Callable[[], VoiceActivityDetector]) -> VoiceActivityDetector:
    """A new detector that answers a probability for a window of silence, then forgets it."""
    detector = make()
    probability = detector.speech_probability(np.zeros(detector.window_samples, dtype=np.int16))
    if not isinstance(probability, float) or not 0.0 <= probability <= 1.0:
        raise ProviderError("the detector answered something that is not a probability")
    detector.reset()
    return detector
