"""The one seam between the speech providers and the guarded-call primitive.

Every provider call of a chain goes through ``dependency(name)``: a circuit
breaker of that name (shared by the process, listed with the others) and a
deadline for the call, or for one attempt of a streaming call. A provider
that hangs is a failure, not a wait. While a breaker is open, calls are
refused at once with ``DependencyUnavailableError`` (``.name``,
``.retry_after``).

Until the project's ``resilience`` package is in place, this module gives the
same interface over ``errors.breakers``; the chains use nothing else.
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from errors.breakers import CircuitBreaker, breaker_get

R = TypeVar("R")


class DependencyUnavailableError(Exception):
    """The dependency's circuit breaker is open: it is not called."""

    def __init__(self, name: str, retry_after: float) -> None:
        self.name = name
        self.retry_after = retry_after
        super().__init__(f"{name} is unavailable (circuit open, retry in {retry_after:g} s)")


class Dependency:
    """One named dependency of this process: its breaker, and calls guarded by it."""

    def __init__(self, breaker: CircuitBreaker) -> None:
        self.name = breaker.name
        self.breaker = breaker

    async def call(self, operation: Callable[[], Awaitable[R]], *, timeout: float, retry: bool = False) -> R:
        """``operation()`` once, within ``timeout`` seconds; the breaker settled by how it ended."""
        async with self.attempt(timeout=timeout):
            return await operation()

    @asynccontextmanager
    async def attempt(self, *, timeout: float) -> AsyncIterator[None]:
        """Guards one attempt (e.g. up to a stream's first chunk) with the breaker and a deadline."""
        if not self.breaker.allow():
            raise DependencyUnavailableError(self.name, self.breaker.retry_after())
        try:
            async with asyncio.timeout(timeout):
                yield
        except asyncio.CancelledError:
            # The caller gave up (not a deadline, a barge-in): no verdict on the
            # dependency, except that a trial call must not stay pending forever.
            if self.breaker.state == "half_open":
                self.breaker.record_failure()
            raise
        except BaseException as exc:
            self.breaker.record_failure(exc)
            raise
        self.breaker.record_success()

    @property
    def state(self) -> str:
        """``closed``, ``open`` or ``half_open``."""
        return self.breaker.state

    def retry_after(self) -> float | None:
        """Seconds until an open breaker lets a trial call through, else None."""
        return self.breaker.retry_after() if self.breaker.state == "open" else None


def dependency(name: str) -> Dependency:
    """This process's dependency ``name`` (its breaker made on first use)."""
    return Dependency(breaker_get(name))
