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

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

import openai
from django.conf import settings

from bots.assistant.exceptions import LLMProviderError, LLMProviderFailedError, LLMUnavailableError
from bots.assistant.llm.config import LLMProviderConfig, providers_select
from bots.assistant.llm.provider import ChatRequest, LLMProvider, StreamPart, ToolCall, ToolCallAssembler
from bots.speech.chains import ProviderHealth, RoleHealth, unexpected
from bots.speech.exceptions import ProviderError, ProviderFailure
from resilience.errors import DependencyUnavailableError
from resilience.guard import Dependency, Outcome
from resilience.registry import dependency as registered_dependency

logger = logging.getLogger("voicebot.bots.assistant")

# After the finish reason, how long the rest of the stream ([DONE]) may take to arrive, so that
# the connection is reused; past it the response is closed (the answer is complete anyway).
FINISH_GRACE = 0.2
PROBE_REQUEST = ChatRequest(messages=[{"role": "user", "content": "Say OK."}], max_tokens=1)

Report = Callable[[BaseException], None]


def classify(exc: BaseException) -> Outcome:
    """A permanent failure (4xx, auth) is an answer for the breaker; anything else a provider raises is a failure."""
    if isinstance(exc, LLMProviderError) and exc.permanent:
        return Outcome.CALLER_ERROR
    return Outcome.FAILURE


def llm_dependency(provider: LLMProvider) -> Dependency:
    return registered_dependency(provider.config.dependency_name, classify=classify)


_providers: dict[LLMProviderConfig, LLMProvider] = {}


def provider_for(config: LLMProviderConfig) -> LLMProvider:
    """This process's provider for ``config`` (one client, and one out-of-use state, per endpoint)."""
    provider = _providers.get(config)
    if provider is None:
        provider = _providers[config] = LLMProvider(config)
    return provider


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class Restarted:
    """The provider failed before the answer was committed: forget its text, the next one starts over."""

    provider: str
    reason: str


AnswerEvent = TextDelta | Restarted


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


def _refused(exc: BaseException) -> bool:
    """A call its breaker refused: nothing reached the provider (the opening was stored when it opened)."""
    return isinstance(exc, DependencyUnavailableError) and exc.__cause__ is None


class AnswerStream:
    """One answer, streamed: iterate it once for ``TextDelta`` and ``Restarted`` events.

    After the iteration ends, ``tool_calls`` holds the calls the model asked
    for and ``finish_reason`` why it stopped. ``provider`` is the provider
    that served (None until one does), ``fallback`` whether it was not the
    first of the list, ``tried`` every provider called, ``failures`` why the
    others did not serve; ``started_at`` and ``first_token_at`` are the
    router's clock (first token of the provider that served, failover time
    included).
    """

    def __init__(self, router: LLMRouter, request: ChatRequest) -> None:
        self.router = router
        self.request = request
        self.committed = False
        self.provider: str | None = None
        self.fallback = False
        self.tried: list[str] = []
        self.failures: list[ProviderFailure] = []
        self.tool_calls: list[ToolCall] = []
        self.finish_reason: str | None = None
        self.started_at: float | None = None
        self.first_token_at: float | None = None
        self._events: AsyncIterator[AnswerEvent] | None = None

    def commit(self) -> None:
        """Part of the answer goes out now: from here on a failure ends it, no other provider starts over."""
        self.committed = True

    def __aiter__(self) -> AsyncIterator[AnswerEvent]:
        if self._events is not None:
            raise RuntimeError("an answer stream is iterated once")
        self._events = self._run()
        return self._events

    async def aclose(self) -> None:
        """Stop the answer: the HTTP response is closed, so the provider stops generating."""
        if self._events is not None:
            await self._events.aclose()  # type: ignore[attr-defined]

    async def _run(self) -> AsyncIterator[AnswerEvent]:
        router = self.router
        self.started_at = router.clock()
        first_provider = router.providers[0] if router.providers else None
        for provider in router.providers:
            reason = provider.unusable_reason()
            if reason is not None:
                self.failures.append(ProviderFailure(provider.name, reason))
                continue
            guarded = llm_dependency(provider)
            self.tried.append(provider.name)
            failed: list[BaseException] = []

            def retry(exc: BaseException, failed: list[BaseException] = failed) -> bool:
                # Asked once or twice per failed attempt (the guard replays the first one to tenacity).
                if not any(seen is exc for seen in failed):
                    failed.append(exc)
                return len(failed) < router.attempts

            try:
                stream, parts, first = await guarded.call(
                    lambda provider=provider: _first_part(provider, self.request),
                    retry=retry, timeout=router.first_token_timeout,
                )
            except Exception as exc:  # noqa: BLE001 - any failure before the first token passes to the next
                self.failures.append(router.failure(provider, exc, phase="first token"))
                continue
            self.provider = provider.name
            self.fallback = provider is not first_provider
            self.first_token_at = router.clock()
            try:
                async for event in self._rest(guarded, parts, first):
                    yield event
                return
            except (LLMProviderError, TimeoutError) as exc:
                failure = router.failure(provider, exc, phase="stream")
                self.failures.append(failure)
                if self.committed:
                    raise LLMUnavailableError(failures=[failure], partial=True,
                                              retry_after=router.retry_after()) from None
                self.provider = None
                self.tool_calls = []
                yield Restarted(provider.name, failure.reason)
            finally:
                await _close(parts, stream)
        raise LLMUnavailableError(failures=self.failures, retry_after=router.retry_after())

    async def _rest(self, guarded: Dependency, parts: AsyncIterator[StreamPart],
                    part: StreamPart) -> AsyncIterator[AnswerEvent]:
        assembler = ToolCallAssembler()
        while True:
            for delta in part.tool_calls:
                assembler.add(delta)
            if part.text:
                yield TextDelta(part.text)
            if part.finish_reason:
                break
            # Never refused (the answer is under way); a failure or a stall counts against the provider.
            async with guarded.watch(), asyncio.timeout(self.router.chunk_timeout):
                next_part = await anext(parts, None)
                if next_part is None:
                    raise LLMProviderError("stopped before the end of its answer (no finish reason)")
            part = next_part
        self.finish_reason = part.finish_reason
        self.tool_calls = assembler.calls()
        try:
            async with asyncio.timeout(FINISH_GRACE):
                while await anext(parts, None) is not None:
                    pass
        except (TimeoutError, LLMProviderError):
            pass  # the answer is complete; the response is closed without its tail


async def _first_part(provider: LLMProvider, request: ChatRequest,
                      ) -> tuple[openai.AsyncStream, AsyncIterator[StreamPart], StreamPart]:
    """Open the stream and read up to its first token (a role-only chunk is not one)."""
    stream = await provider.open(request)
    parts = provider.parts(stream)
    try:
        content_type = stream.response.headers.get("content-type", "")
        if not content_type.startswith("text/event-stream"):
            raise LLMProviderError("answered garbage (not an event stream)")
        while True:
            part = await anext(parts, None)
            if part is None:
                raise LLMProviderError("ended its stream before any answer")
            if part.meaningful:
                return stream, parts, part
    except BaseException:
        await _close(parts, stream)
        raise


async def _close(parts: AsyncIterator[StreamPart], stream: openai.AsyncStream) -> None:
    await parts.aclose()  # type: ignore[attr-defined]
    await stream.close()
