"""The retry policy of a dependency: how many attempts, and the backoff between them.

The schedule is exponential with jitter: after the n-th failed attempt the
caller waits ``initial * 2**(n-1)`` plus up to ``jitter`` seconds, at most
``maximum`` (0.05, 0.1, 0.2, 0.4 ... with the defaults). tenacity computes
every wait (``wait_exponential_jitter``) and runs the loop.

An async call's first attempt runs without tenacity: building its loop
costs about 0.1 ms of CPU, which every database call and group change would
pay on the good path. After a first failure the loop is built and its first
attempt replays that failure (``Replay``), so that tenacity counts it and
every wait and stop is tenacity's own, as if it had run the first attempt
itself. (Calls from threads, off the hot path, run the loop from the start.)
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from tenacity import AsyncRetrying, Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int
    initial: float
    maximum: float
    jitter: float

    def wait(self) -> wait_exponential_jitter:
        return wait_exponential_jitter(multiplier=self.initial, max=self.maximum, jitter=self.jitter)

    def retrying(self, predicate: Callable[[BaseException], bool], *, sleep: Sleep = asyncio.sleep) -> AsyncRetrying:
        """tenacity's async loop: every attempt of a call, the first one included."""
        return AsyncRetrying(
            retry=retry_if_exception(predicate),
            stop=stop_after_attempt(max(1, self.attempts)),
            wait=self.wait(),
            sleep=sleep,
            reraise=True,
        )

    def retrying_sync(
        self, predicate: Callable[[BaseException], bool], *, sleep: Callable[[float], None] = time.sleep
    ) -> Retrying:
        return Retrying(
            retry=retry_if_exception(predicate),
            stop=stop_after_attempt(max(1, self.attempts)),
            wait=self.wait(),
            sleep=sleep,
            reraise=True,
        )


class Replay:
    """The failure of a first attempt made outside the loop, raised again as the loop's first attempt."""

    __slots__ = ("failure",)

    def __init__(self, failure: BaseException) -> None:
        self.failure: BaseException | None = failure

    def pending(self) -> BaseException | None:
        failure, self.failure = self.failure, None
        return failure
