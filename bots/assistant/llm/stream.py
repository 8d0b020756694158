"""One answer streamed from the first provider that serves it: the failover loop of ``LLMRouter.stream``.

``AnswerStream`` is iterated once for ``TextDelta`` and ``Restarted``
events; ``commit()`` marks the moment part of the answer goes out (from then
on a failure ends the answer with ``LLMUnavailableError(partial=True)``
instead of another provider starting it over). See ``router`` for the rules.
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Protocol

import openai

from bots.assistant.exceptions import LLMProviderError, LLMUnavailableError
from bots.assistant.llm.guard import llm_dependency
from bots.assistant.llm.messages import ChatRequest, StreamPart, ToolCall
from bots.assistant.llm.provider import LLMProvider, ToolCallAssembler
from bots.speech.exceptions import ProviderFailure
from resilience.guard import Dependency

# After the finish reason, how long the rest of the stream ([DONE]) may take to arrive, so that
# the connection is reused; past it the response is closed (the answer is complete anyway).
FINISH_GRACE = 0.2


class Failover(Protocol):
    """What an answer needs of its router."""

    providers: tuple[LLMProvider, ...]
    first_token_timeout: float
    chunk_timeout: float
    attempts: int
    clock: Callable[[], float]

    def failure(self, provider: LLMProvider, exc: BaseException, *, phase: str) -> ProviderFailure: ...

    def retry_after(self) -> float: ...


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class Restarted:
    """The provider failed before the answer was committed: forget its text, the next one starts over."""

    provider: str
    reason: str


AnswerEvent = TextDelta | Restarted


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

    def __init__(self, router: Failover, request: ChatRequest) -> None:
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
            rest = self._rest(guarded, parts, first)
            try:
                async for event in rest:
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
                await rest.aclose()  # type: ignore[attr-defined]
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
