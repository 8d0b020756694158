"""The guarded call: admission, settling in every outcome, retries and deadlines."""
from __future__ import annotations

import asyncio
import threading

import pytest

from resilience.breakers import CircuitBreaker
from resilience.errors import DependencyUnavailableError
from resilience.guard import Dependency, Outcome, failures_of
from resilience.retry import RetryPolicy


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CallerMistake(Exception):
    """Stands for an answer of the dependency that fails the call (a constraint, a 4xx)."""


class Recorded:
    """A sleep that records the retry schedule instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(round(seconds, 6))


@pytest.fixture
def clock() -> Clock:
    return Clock()


def made(clock: Clock, *, attempts: int = 5, jitter: float = 0.0, threshold: int = 3) -> Dependency:
    return Dependency(
        "provider",
        breaker=CircuitBreaker("provider", failure_threshold=threshold, recovery_timeout=5.0, clock=clock),
        policy=RetryPolicy(attempts=attempts, initial=0.05, maximum=0.5, jitter=jitter),
        classify=failures_of(ConnectionError),
        sleep=Recorded(),
    )


def half_open(dependency: Dependency, clock: Clock) -> None:
    for _ in range(dependency.breaker.failure_threshold):
        dependency.breaker.record_failure(ConnectionError())
    clock.now += 5.0
    assert dependency.state == "half_open"


def failing(times: int, exc: BaseException, result: str = "ok"):  # type: ignore[no-untyped-def]
    calls = {"n": 0}

    async def operation() -> str:
        calls["n"] += 1
        if calls["n"] <= times:
            raise exc
        return result

    operation.calls = calls  # type: ignore[attr-defined]
    return operation


# --- Outcomes -------------------------------------------------------------------------


def test_the_classifier_names_failures_and_caller_errors(clock: Clock) -> None:
    dependency = made(clock)
    assert dependency.outcome(None) is Outcome.SUCCESS
    assert dependency.outcome(ConnectionError()) is Outcome.FAILURE
    assert dependency.outcome(CallerMistake()) is Outcome.CALLER_ERROR
    assert dependency.outcome(TimeoutError()) is Outcome.FAILURE  # a hang is always a failure


async def test_a_successful_trial_closes_the_breaker(clock: Clock) -> None:
    dependency = made(clock)
    half_open(dependency, clock)
    assert await dependency.call(failing(0, ConnectionError())) == "ok"
    assert dependency.state == "closed"


async def test_a_failed_trial_opens_the_breaker_again(clock: Clock) -> None:
    dependency = made(clock)
    half_open(dependency, clock)
    with pytest.raises(DependencyUnavailableError) as raised:
        await dependency.call(failing(1, ConnectionError("refused")))
    assert isinstance(raised.value.__cause__, ConnectionError)
    assert dependency.state == "open"


async def test_a_trial_that_ends_in_a_caller_error_settles_it_closed(clock: Clock) -> None:
    dependency = made(clock)
    half_open(dependency, clock)
    with pytest.raises(CallerMistake):
        await dependency.call(failing(1, CallerMistake()))
    assert dependency.state == "closed"


async def test_a_trial_that_ends_in_an_unexpected_error_is_settled_by_the_classifier(clock: Clock) -> None:
    dependency = made(clock)
    half_open(dependency, clock)
    with pytest.raises(KeyError):
        await dependency.call(failing(1, KeyError("bug")))
    assert dependency.state == "closed"  # failures_of(ConnectionError): anything else is an answer
    everything_fails = Dependency(
        "strict", breaker=CircuitBreaker("strict", failure_threshold=1, recovery_timeout=5.0, clock=clock),
        policy=RetryPolicy(attempts=1, initial=0.05, maximum=0.5, jitter=0), classify=failures_of(Exception),
    )
    half_open(everything_fails, clock)
    with pytest.raises(DependencyUnavailableError):
        await everything_fails.call(failing(1, KeyError("bug")))
    assert everything_fails.state == "open"


async def test_a_cancelled_trial_is_handed_to_the_next_caller(clock: Clock) -> None:
    dependency = made(clock)
    half_open(dependency, clock)
    started = asyncio.Event()

    async def hangs() -> str:
        started.set()
        await asyncio.sleep(3600)
        return "never"

    task = asyncio.ensure_future(dependency.call(hangs))
    await started.wait()
    with pytest.raises(DependencyUnavailableError):
        await dependency.call(failing(0, ConnectionError()))  # the trial is out
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert dependency.state == "half_open"
    assert await dependency.call(failing(0, ConnectionError())) == "ok"
    assert dependency.state == "closed"


async def test_an_error_raised_while_being_cancelled_is_no_verdict(clock: Clock) -> None:
    """A client library that turns a cancellation into its own error must not open the breaker."""
    dependency = made(clock, threshold=1)
    started = asyncio.Event()

    async def turns_cancellation_into_an_error() -> str:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            raise ConnectionError("connection closed by cancellation") from None
        return "never"

    task = asyncio.ensure_future(dependency.call(turns_cancellation_into_an_error))
    await started.wait()
    task.cancel()
    with pytest.raises((ConnectionError, asyncio.CancelledError)):
        await task
    assert dependency.state == "closed"
    assert dependency.breaker.failures_total == 0


async def test_a_deadline_that_passes_is_a_failure(clock: Clock) -> None:
    dependency = made(clock, threshold=1)

    async def hangs() -> str:
        await asyncio.sleep(3600)
        return "never"

    with pytest.raises(DependencyUnavailableError) as raised:
        await dependency.call(hangs, timeout=0.01)
    assert isinstance(raised.value.__cause__, TimeoutError)
    assert dependency.state == "open"
    assert raised.value.context["exception"] == "TimeoutError"


async def test_a_refused_call_tells_how_long_to_wait_and_runs_nothing(clock: Clock) -> None:
    dependency = made(clock)
    for _ in range(3):
        dependency.breaker.record_failure(ConnectionError())
    operation = failing(0, ConnectionError())
    with pytest.raises(DependencyUnavailableError) as raised:
        await dependency.call(operation, retry=True)
    assert operation.calls["n"] == 0
    assert raised.value.retry_after == 5.0
    assert raised.value.context == {"dependency": "provider", "breaker": "open"}


async def test_a_refusal_seen_by_an_outer_guard_is_not_counted_again(clock: Clock) -> None:
    inner = made(clock, threshold=1)
    outer = Dependency(
        "outer", breaker=CircuitBreaker("outer", failure_threshold=1, recovery_timeout=5.0, clock=clock),
        policy=RetryPolicy(attempts=3, initial=0.05, maximum=0.5, jitter=0), classify=failures_of(Exception),
        sleep=Recorded(),
    )
    inner.breaker.record_failure(ConnectionError())

    async def through_inner() -> str:
        return await inner.call(failing(0, ConnectionError()))

    with pytest.raises(DependencyUnavailableError):
        await outer.call(through_inner, retry=True)
    assert outer.state == "closed"
    assert outer.sleep.waits == []  # type: ignore[attr-defined]


# --- Retries --------------------------------------------------------------------------


async def test_the_backoff_doubles_from_the_first_wait(clock: Clock) -> None:
    dependency = made(clock, attempts=5, threshold=10)
    operation = failing(4, ConnectionError())
    assert await dependency.call(operation, retry=True) == "ok"
    assert operation.calls["n"] == 5
    assert dependency.sleep.waits == [0.05, 0.1, 0.2, 0.4]  # type: ignore[attr-defined]


async def test_the_backoff_stops_at_its_maximum(clock: Clock) -> None:
    dependency = made(clock, attempts=7, threshold=10)
    await dependency.call(failing(6, ConnectionError()), retry=True)
    assert dependency.sleep.waits == [0.05, 0.1, 0.2, 0.4, 0.5, 0.5]  # type: ignore[attr-defined]


async def test_jitter_adds_at_most_its_amount_to_each_wait(clock: Clock) -> None:
    dependency = made(clock, attempts=5, jitter=0.05, threshold=10)
    await dependency.call(failing(4, ConnectionError()), retry=True)
    waits = dependency.sleep.waits  # type: ignore[attr-defined]
    for wait, base in zip(waits, [0.05, 0.1, 0.2, 0.4], strict=True):
        assert base <= wait <= base + 0.05


async def test_retries_end_after_the_attempts_with_the_dependency_error(clock: Clock) -> None:
    dependency = made(clock, attempts=3, threshold=10)
    operation = failing(10, ConnectionError("down"))
    with pytest.raises(DependencyUnavailableError) as raised:
        await dependency.call(operation, retry=True)
    assert operation.calls["n"] == 3
    assert isinstance(raised.value.__cause__, ConnectionError)
    assert dependency.breaker.failures_total == 3


async def test_retries_stop_once_the_breaker_opens(clock: Clock) -> None:
    dependency = made(clock, attempts=5, threshold=2)
    operation = failing(10, ConnectionError())
    with pytest.raises(DependencyUnavailableError):
        await dependency.call(operation, retry=True)
    assert operation.calls["n"] == 2
    assert dependency.state == "open"


async def test_a_caller_error_is_never_retried(clock: Clock) -> None:
    dependency = made(clock)
    operation = failing(1, CallerMistake())
    with pytest.raises(CallerMistake):
        await dependency.call(operation, retry=True)
    assert operation.calls["n"] == 1


async def test_a_retry_predicate_limits_what_is_retried(clock: Clock) -> None:
    dependency = made(clock, threshold=10)
    operation = failing(1, ConnectionError("mid-call"))
    with pytest.raises(DependencyUnavailableError):
        await dependency.call(operation, retry=lambda exc: "connect" in str(exc))
    assert operation.calls["n"] == 1
    assert await dependency.call(failing(1, ConnectionError("connect failed")), retry=lambda e: "connect" in str(e))


async def test_without_retry_a_failure_is_raised_at_once(clock: Clock) -> None:
    dependency = made(clock)
    operation = failing(1, ConnectionError())
    with pytest.raises(DependencyUnavailableError):
        await dependency.call(operation)
    assert operation.calls["n"] == 1


# --- Threads and watches -----------------------------------------------------------


def test_a_sync_call_retries_with_the_same_schedule_and_reports_each_failure(clock: Clock) -> None:
    dependency = made(clock, attempts=4, threshold=10)
    waits: list[float] = []
    failures: list[str] = []
    calls = {"n": 0}

    def operation() -> str:
        calls["n"] += 1
        if calls["n"] < 4:
            raise ConnectionError(f"attempt {calls['n']}")
        return "stored"

    retrying = dependency.policy.retrying_sync

    def recorded_retrying(predicate):  # type: ignore[no-untyped-def]
        return retrying(predicate, sleep=lambda s: waits.append(round(s, 6)))

    dependency.policy = type("P", (), {"retrying_sync": staticmethod(recorded_retrying)})()  # type: ignore[assignment]
    result = dependency.call_sync(operation, retry=True, on_failure=lambda exc: failures.append(str(exc)))
    assert result == "stored"
    assert waits == [0.05, 0.1, 0.2]
    assert failures == ["attempt 1", "attempt 2", "attempt 3"]


def test_a_sync_call_from_a_thread_settles_a_trial(clock: Clock) -> None:
    dependency = made(clock)
    half_open(dependency, clock)
    outcome: list[object] = []
    thread = threading.Thread(target=lambda: outcome.append(dependency.call_sync(lambda: "stored")))
    thread.start()
    thread.join()
    assert outcome == ["stored"]
    assert dependency.state == "closed"


async def test_a_watch_counts_failures_but_is_never_refused_and_proves_nothing(clock: Clock) -> None:
    dependency = made(clock, threshold=1)
    with pytest.raises(ConnectionError):
        async with dependency.watch():
            raise ConnectionError()
    assert dependency.state == "open"
    async with dependency.watch():
        pass  # admitted although open
    assert dependency.state == "open"
