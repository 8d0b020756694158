"""The one guarded call: every call to a dependency goes through a ``Dependency``.

A ``Dependency`` is a named thing that can fail (the database, the channel
layer, an AI provider) with its circuit breaker, its retry policy and a
classifier that says what an exception means for it:

- ``SUCCESS``: the dependency answered;
- ``FAILURE``: a transient failure of the dependency (it counts against the
  breaker and may be retried); a deadline that passed is always one;
- ``CALLER_ERROR``: the dependency answered but the call failed for the
  caller's own reasons (a constraint violated, a 4xx): the breaker counts it
  as an answer, and it is never retried.

``attempt()`` guards one attempt: it asks the breaker for admission and
settles what it admitted in every outcome, success, failure, caller error,
unexpected error and cancellation alike (a cancelled trial is handed back to
the next caller, so a breaker never stays half-open for good). ``call()``
runs an operation through attempts with the retry policy; ``watch()`` is for
the one kind of call that must never be refused and whose success proves
nothing (a channel-layer receive, served from a local buffer).

While the breaker is closed, admission costs one attribute read.
"""
from __future__ import annotations

import asyncio
import enum
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TypeVar

from resilience.breakers import REFUSED, TRIAL, CircuitBreaker
from resilience.errors import DependencyUnavailableError
from resilience.retry import Replay, RetryPolicy, Sleep

R = TypeVar("R")


class Outcome(enum.Enum):
    SUCCESS = "success"
    FAILURE = "failure"
    CALLER_ERROR = "caller_error"


Classifier = Callable[[BaseException], Outcome]
# Makes the error a refused or failed call raises (the failure that caused it, or None when refused).
UnavailableFactory = Callable[["Dependency", BaseException | None], BaseException]
RetryWhen = bool | Callable[[BaseException], bool]
# The attribute that marks an error a guard made.
GUARDED = "voicebot_guarded_by"


def failures_of(*types: type[BaseException]) -> Classifier:
    """A classifier: instances of ``types`` are failures, any other exception is the caller's."""

    def classify(exc: BaseException) -> Outcome:
        return Outcome.FAILURE if isinstance(exc, types) else Outcome.CALLER_ERROR

    return classify


def default_unavailable(dependency: Dependency, cause: BaseException | None) -> BaseException:
    context = {"breaker": dependency.breaker.state}
    if cause is not None:
        context["exception"] = type(cause).__name__
    return DependencyUnavailableError(name=dependency.name, retry_after=dependency.retry_after(), context=context)


def _being_cancelled() -> bool:
    try:
        task = asyncio.current_task()
    except RuntimeError:  # no running loop: a worker thread
        return False
    return task is not None and task.cancelling() > 0


class Dependency:
    def __init__(
        self,
        name: str,
        *,
        breaker: CircuitBreaker,
        policy: RetryPolicy,
        classify: Classifier,
        unavailable: UnavailableFactory = default_unavailable,
        retry_after_default: float | Callable[[], float] = 2.0,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.name = name
        self.breaker = breaker
        self.policy = policy
        self.classify = classify
        self.unavailable = unavailable
        self.retry_after_default = retry_after_default
        # How the retry loop waits (tests record the schedule through it).
        self.sleep = sleep

    def __repr__(self) -> str:
        return f"<Dependency {self.name} {self.breaker.state}>"

    @property
    def state(self) -> str:
        return self.breaker.state

    def retry_after(self) -> float:
        """What a client is told to wait: the breaker's time left while it is open, else the default."""
        if self.breaker.state == "open":
            return self.breaker.retry_after()
        default = self.retry_after_default
        return default() if callable(default) else default

    def unavailable_error(self, cause: BaseException | None = None) -> BaseException:
        """The error of a refused call (``cause`` None) or of a failed one, marked as made by a guard."""
        error = self.unavailable(self, cause)
        error.__dict__[GUARDED] = self.name
        if cause is not None and error.__cause__ is None:
            error.__cause__ = cause
        return error

    def outcome(self, exc: BaseException | None) -> Outcome:
        if exc is None:
            return Outcome.SUCCESS
        if GUARDED in getattr(exc, "__dict__", ()):
            # Made by a guard (a refusal, or a failure already counted): an
            # outer guarded call counts it as an answer, never again as a failure.
            return Outcome.CALLER_ERROR
        if isinstance(exc, TimeoutError):
            return Outcome.FAILURE
        return self.classify(exc)

    # --- One attempt --------------------------------------------------------

    def attempt(self, *, timeout: float | None = None) -> Attempt:
        """``async with dependency.attempt(timeout=...)``: one admitted, settled attempt."""
        return Attempt(self, timeout)

    def attempt_sync(self) -> SyncAttempt:
        """``with dependency.attempt_sync()``: the same, from a thread without an event loop."""
        return SyncAttempt(self)

    def watch(self) -> Watch:
        """``async with dependency.watch()``: never refused; counts failures, proves nothing by succeeding."""
        return Watch(self)

    def settle(self, admission: int, exc: BaseException | None) -> None:
        """Tell the breaker how an admitted attempt ended."""
        trial = admission == TRIAL
        if exc is not None and (not isinstance(exc, Exception) or _being_cancelled()):
            # Cancelled (or the process stopping): no verdict on the dependency.
            if trial:
                self.breaker.release_trial()
            return
        if self.outcome(exc) is Outcome.FAILURE:
            self.breaker.record_failure(exc, trial=trial)
        else:
            self.breaker.record_success()

    # --- Calls --------------------------------------------------------------

    def should_retry(self, exc: BaseException, retry: RetryWhen) -> bool:
        if not retry or not isinstance(exc, Exception) or self.outcome(exc) is not Outcome.FAILURE:
            return False
        return retry is True or bool(retry(exc))  # type: ignore[operator]

    def failed(self, exc: BaseException) -> BaseException:
        """What a call raises for ``exc``: the dependency's error for a failure, else ``exc`` itself."""
        if isinstance(exc, Exception) and self.outcome(exc) is Outcome.FAILURE and not _being_cancelled():
            return self.unavailable_error(exc)
        return exc

    async def call(
        self, operation: Callable[[], Awaitable[R]], *, retry: RetryWhen = False, timeout: float | None = None
    ) -> R:
        """``await operation()`` guarded, each attempt within ``timeout``, failures retried where ``retry`` says.

        Raises the dependency's unavailable error when the breaker refuses or
        the last attempt failed (the failure chained as its cause); a caller
        error is raised as it is.
        """
        try:
            async with Attempt(self, timeout):
                return await operation()
        except BaseException as exc:  # noqa: BLE001 - settled, then raised as what it means
            if not self.should_retry(exc, retry):
                raise self.failed(exc)
            replay = Replay(exc)
        try:
            async for retrying in self.policy.retrying(lambda e: self.should_retry(e, retry), sleep=self.sleep):
                with retrying:
                    first = replay.pending()
                    if first is not None:
                        raise first
                    async with Attempt(self, timeout):
                        result = await operation()
        except BaseException as exc:  # noqa: BLE001
            raise self.failed(exc)
        return result

    def call_sync(
        self,
        operation: Callable[[], R],
        *,
        retry: RetryWhen = False,
        on_failure: Callable[[BaseException], None] | None = None,
    ) -> R:
        """``call`` from a thread without an event loop; ``on_failure`` runs after each failed attempt."""

        def attempt_once() -> R:
            try:
                with SyncAttempt(self):
                    return operation()
            except Exception as exc:
                if on_failure is not None and self.outcome(exc) is Outcome.FAILURE:
                    on_failure(exc)
                raise

        try:
            for retrying in self.policy.retrying_sync(lambda e: self.should_retry(e, retry)):
                with retrying:
                    result = attempt_once()
        except BaseException as exc:  # noqa: BLE001
            raise self.failed(exc)
        return result


class Attempt:
    """One attempt of a call: admitted by the breaker on entry, settled on exit."""

    __slots__ = ("dependency", "timeout", "admission", "_deadline")

    def __init__(self, dependency: Dependency, timeout: float | None) -> None:
        self.dependency = dependency
        self.timeout = timeout
        self.admission = REFUSED
        self._deadline: asyncio.Timeout | None = None

    async def __aenter__(self) -> Attempt:
        admission = self.dependency.breaker.admit()
        if admission == REFUSED:
            raise self.dependency.unavailable_error()
        self.admission = admission
        if self.timeout is not None:
            deadline = self._deadline = asyncio.timeout(self.timeout)
            try:
                await deadline.__aenter__()
            except BaseException as exc:
                self.dependency.settle(admission, exc)
                raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        if self._deadline is not None:
            try:
                await self._deadline.__aexit__(exc_type, exc, tb)
            except TimeoutError as timed_out:
                # The deadline passed: a hang is a failure, not a wait.
                self.dependency.settle(self.admission, timed_out)
                raise
        self.dependency.settle(self.admission, exc)
        return False


class SyncAttempt:
    __slots__ = ("dependency", "admission")

    def __init__(self, dependency: Dependency) -> None:
        self.dependency = dependency
        self.admission = REFUSED

    def __enter__(self) -> SyncAttempt:
        admission = self.dependency.breaker.admit()
        if admission == REFUSED:
            raise self.dependency.unavailable_error()
        self.admission = admission
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        self.dependency.settle(self.admission, exc)
        return False


class Watch:
    """An observed call: failures count against the breaker; it is never refused and a success settles nothing."""

    __slots__ = ("dependency",)

    def __init__(self, dependency: Dependency) -> None:
        self.dependency = dependency

    async def __aenter__(self) -> Watch:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        if (
            isinstance(exc, Exception)
            and not _being_cancelled()
            and self.dependency.outcome(exc) is Outcome.FAILURE
        ):
            self.dependency.breaker.record_failure(exc)
        return False


