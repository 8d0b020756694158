"""Failover across the language-model providers, every call through the project's one guarded call.

Each provider is the named dependency ``llm.<name>`` (resilience.registry):
a circuit breaker of its own, listed with the process's others in /readyz,
/metrics and the admin dashboard. An answer (``LLMRouter.stream``) tries the
providers in order:

- opening the stream and reading up to its first token is one guarded
  attempt (``Dependency.call`` with the first-token deadline): a 5xx, a
  timeout, a connection error or garbage is a failure the breaker counts,
  retried on the same provider up to ``VOICEBOT_LLM_ATTEMPTS`` times (with
  the retry policy's backoff), then the next provider is tried; a 4xx or an
  auth failure takes the provider out of use until its settings change
  (``LLMProvider.disable``) and the next one is tried at once;
- each later chunk is watched (``Dependency.watch``) with the chunk deadline,
  as text to speech does: a stream that stalls, stops half way (no finish
  reason) or turns to garbage is a failure.

LiveKit's rule holds: nothing is said twice. Until the consumer calls
``commit()`` (when the first sentence goes to text to speech) a failure moves
the answer to the next provider, and the consumer is told to forget the text
it got (``Restarted``); after it, a failure ends the answer with
``LLMUnavailableError(partial=True)``. When no provider served, the answer
raises ``LLMUnavailableError`` naming each provider and why; ``probe()`` says
when one answers again (through the breakers: nothing reaches a provider
before its breaker lets a trial through). Closing the stream (``aclose``, or
cancelling the task that reads it) closes the HTTP response, so the provider
stops generating.

Every provider failure is handed to ``report`` as an ``LLMProviderFailedError``
(to be stored with category ``bot``), whether or not a fallback then served.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from django.conf import settings

from bots.assistant.exceptions import LLMProviderError, LLMProviderFailedError
from bots.assistant.llm.config import LLMProviderConfig, providers_select
from bots.assistant.llm.guard import llm_dependency
from bots.assistant.llm.messages import ChatRequest
from bots.assistant.llm.provider import LLMProvider
from bots.assistant.llm.stream import AnswerStream
from bots.speech.chains import ProviderHealth, RoleHealth, unexpected
from bots.speech.exceptions import ProviderError, ProviderFailure
from resilience.errors import DependencyUnavailableError

logger = logging.getLogger("voicebot.bots.assistant")

PROBE_REQUEST = ChatRequest(messages=[{"role": "user", "content": "Say OK."}], max_tokens=1)

Report = Callable[[BaseException], None]


_providers: dict[LLMProviderConfig, LLMProvider] = {}


def provider_for(config: LLMProviderConfig) -> LLMProvider:
    """This process's provider for ``config`` (one client, and one out-of-use state, per endpoint)."""
    provider = _providers.get(config)
    if provider is None:
        provider = _providers[config] = LLMProvider(config)
    return provider


class LLMRouter:
    def __init__(
        self,
        providers: Sequence[LLMProvider],
        *,
        first_token_timeout: float,
        chunk_timeout: float,
        attempts: int = 1,
        report: Report | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        names = [provider.name for provider in providers]
        if len(set(names)) != len(names):
            raise ValueError(f"two language-model providers share a name: {names}")
        self.providers = tuple(providers)
        self.first_token_timeout = first_token_timeout
        self.chunk_timeout = chunk_timeout
        self.attempts = max(1, attempts)
        self.report = report
        self.clock = clock

    @classmethod
    def from_settings(cls, selection: Sequence[object] | None = None, *, report: Report | None = None) -> LLMRouter:
        """The providers a profile chose (names or indexes; all when None), with the settings' deadlines."""
        return cls(
            [provider_for(config) for config in providers_select(selection)],
            first_token_timeout=settings.VOICEBOT_LLM_FIRST_TOKEN_TIMEOUT,
            chunk_timeout=settings.VOICEBOT_LLM_CHUNK_TIMEOUT,
            attempts=settings.VOICEBOT_LLM_ATTEMPTS,
            report=report,
        )

    def stream(self, request: ChatRequest) -> AnswerStream:
        return AnswerStream(self, request)

    def warm_up(self) -> None:
        """Make each provider's client and load the SDK's chat module (its first use costs a few tenths)."""
        for provider in self.providers:
            provider.client.chat.completions  # noqa: B018 - the attribute loads the resource

    # --- State, without calling anyone --------------------------------------

    def health(self) -> RoleHealth:
        states = []
        for provider in self.providers:
            name = provider.config.dependency_name
            reason = provider.unusable_reason()
            if reason is not None:
                states.append(ProviderHealth(provider.name, name, "unavailable", reason, None))
                continue
            guarded = llm_dependency(provider)
            state = guarded.state
            states.append(ProviderHealth(provider.name, name, state, None,
                                         guarded.retry_after() if state == "open" else None))
        return RoleHealth("llm", tuple(states))

    def unavailable_reason(self) -> str | None:
        """Why no provider can be called now, in words (for a profile's listing), or None when one can."""
        health = self.health()
        if health.available:
            return None
        if not health.providers:
            return "It has no language-model provider."
        states = "; ".join(f"{provider.provider}: {provider.reason or _state_words(provider)}"
                           for provider in health.providers)
        return f"Its language-model providers are unavailable ({states})."

    def retry_after(self) -> float:
        waits = [health.retry_after for health in self.health().providers if health.retry_after]
        return min(waits) if waits else settings.VOICEBOT_RETRY_AFTER

    async def probe(self) -> bool:
        """Whether a provider answers now (a one-token completion, through its breaker)."""
        for provider in self.providers:
            if provider.unusable_reason() is not None:
                continue
            try:
                await llm_dependency(provider).call(lambda provider=provider: provider.complete(PROBE_REQUEST),
                                                    timeout=self.first_token_timeout)
            except Exception as exc:  # noqa: BLE001 - a provider that fails the probe is probed again later
                self.failure(provider, exc, phase="probe")
                continue
            return True
        return False

    # --- Failures -----------------------------------------------------------

    def failure(self, provider: LLMProvider, exc: BaseException, *, phase: str) -> ProviderFailure:
        """Record why ``provider`` failed: out of use for a permanent failure, logged, handed to ``report``."""
        permanent = isinstance(exc, LLMProviderError) and exc.permanent
        reason = self.failure_reason(exc, phase)
        if permanent:
            provider.disable(reason)
        logger.warning("llm provider %s failed (%s): %s", provider.name, phase, reason, exc_info=unexpected(exc))
        if self.report is not None and not _refused(exc):
            self.report(LLMProviderFailedError(provider=provider.name, reason=reason, permanent=permanent))
        return ProviderFailure(provider.name, provider.unusable_reason() or reason)

    def failure_reason(self, exc: BaseException, phase: str) -> str:
        """Why a provider failed, in words that hold no secret."""
        if isinstance(exc, DependencyUnavailableError):
            if exc.__cause__ is None:
                return f"circuit open, retry in {exc.retry_after:g} s"
            exc = exc.__cause__
        if isinstance(exc, TimeoutError):
            if phase == "stream":
                return f"stalled for {self.chunk_timeout:g} s in the middle of its answer"
            return f"no first token within {self.first_token_timeout:g} s"
        if isinstance(exc, ProviderError):
            return exc.reason
        return f"failed with {type(exc).__name__}"


def _state_words(health: ProviderHealth) -> str:
    if health.state == "open" and health.retry_after:
        return f"failing, tried again in {health.retry_after:g} s"
    return health.state.replace("_", " ")


def _refused(exc: BaseException) -> bool:
    """A call its breaker refused: nothing reached the provider (the opening was stored when it opened)."""
    return isinstance(exc, DependencyUnavailableError) and exc.__cause__ is None




def llm_health_report() -> list[dict[str, object]]:
    """Each configured provider, in order, as a worker reports it: name, breaker state, why out of use."""
    router = LLMRouter.from_settings()
    return [{"name": health.provider, "dependency": health.dependency, "state": health.state,
             "reason": health.reason, "retry_after": health.retry_after}
            for health in router.health().providers]
