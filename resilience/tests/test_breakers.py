"""Every state and edge of a circuit breaker, on a clock the tests move."""
from __future__ import annotations

import pytest

from resilience.breakers import ADMITTED, REFUSED, TRIAL, CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def breaker(clock: Clock, *, threshold: int = 3, recovery: float = 5.0, trial_timeout: float = 30.0) -> CircuitBreaker:
    return CircuitBreaker("test", failure_threshold=threshold, recovery_timeout=recovery,
                          trial_timeout=trial_timeout, clock=clock)


def opened(clock: Clock, **options: float) -> CircuitBreaker:
    made = breaker(clock, **options)  # type: ignore[arg-type]
    for _ in range(made.failure_threshold):
        made.record_failure(ConnectionError())
    assert made.state == "open"
    return made


def test_a_new_breaker_is_closed_and_admits_every_call(clock: Clock) -> None:
    made = breaker(clock)
    assert made.state == "closed"
    assert [made.admit() for _ in range(100)] == [ADMITTED] * 100
    assert made.retry_after() == 0.0


def test_failures_below_the_threshold_keep_it_closed(clock: Clock) -> None:
    made = breaker(clock, threshold=3)
    made.record_failure(ConnectionError())
    made.record_failure(ConnectionError())
    assert made.state == "closed"
    assert made.admit() == ADMITTED


def test_a_success_between_failures_starts_the_count_again(clock: Clock) -> None:
    made = breaker(clock, threshold=3)
    made.record_failure()
    made.record_failure()
    made.record_success()
    made.record_failure()
    made.record_failure()
    assert made.state == "closed"
    made.record_failure()
    assert made.state == "open"


def test_the_threshold_opens_it_and_calls_are_refused_with_a_retry_after(clock: Clock) -> None:
    made = opened(clock, threshold=3, recovery=5.0)
    assert made.admit() == REFUSED
    assert made.retry_after() == 5.0
    clock.now += 4.0
    assert made.admit() == REFUSED
    assert made.retry_after() == 1.0
    assert made.rejected_total == 2
    assert made.opened_total == 1
    assert made.last_failure == "ConnectionError"


def test_retry_after_is_never_below_half_a_second_while_open(clock: Clock) -> None:
    made = opened(clock, recovery=5.0)
    clock.now += 4.9
    assert made.retry_after() == 0.5


def test_after_the_recovery_timeout_exactly_one_trial_is_admitted(clock: Clock) -> None:
    made = opened(clock, recovery=5.0)
    clock.now += 5.0
    assert made.state == "half_open"
    assert made.admit() == TRIAL
    assert made.admit() == REFUSED
    assert made.admit() == REFUSED
    assert made.state == "half_open"


def test_a_successful_trial_closes_it(clock: Clock) -> None:
    made = opened(clock)
    clock.now += 5.0
    assert made.admit() == TRIAL
    made.record_success()
    assert made.state == "closed"
    assert made.admit() == ADMITTED
    assert made.snapshot().consecutive_failures == 0


def test_a_failed_trial_opens_it_again_for_a_full_recovery_timeout(clock: Clock) -> None:
    made = opened(clock, recovery=5.0)
    clock.now += 5.0
    assert made.admit() == TRIAL
    made.record_failure(TimeoutError(), trial=True)
    assert made.state == "open"
    assert made.opened_total == 2
    assert made.retry_after() == 5.0
    assert made.admit() == REFUSED


def test_a_released_trial_goes_to_the_next_caller(clock: Clock) -> None:
    made = opened(clock)
    clock.now += 5.0
    assert made.admit() == TRIAL
    made.release_trial()
    assert made.state == "half_open"
    assert made.admit() == TRIAL


def test_a_trial_that_never_ends_is_given_to_another_caller_after_the_trial_timeout(clock: Clock) -> None:
    made = opened(clock, recovery=5.0, trial_timeout=30.0)
    clock.now += 5.0
    assert made.admit() == TRIAL
    clock.now += 29.0
    assert made.admit() == REFUSED
    clock.now += 1.0
    assert made.admit() == TRIAL


def test_a_failure_of_a_call_admitted_before_the_opening_does_not_extend_it(clock: Clock) -> None:
    made = opened(clock, recovery=5.0)
    clock.now += 3.0
    made.record_failure(ConnectionError())  # in flight when it opened
    assert made.retry_after() == 2.0
    assert made.opened_total == 1


def test_a_non_trial_failure_while_a_trial_runs_leaves_the_trial_alone(clock: Clock) -> None:
    made = opened(clock)
    clock.now += 5.0
    assert made.admit() == TRIAL
    made.record_failure(ConnectionError())
    assert made.admit() == REFUSED  # the trial is still out
    made.record_success()
    assert made.state == "closed"


def test_an_answer_from_a_call_in_flight_closes_an_open_breaker(clock: Clock) -> None:
    made = opened(clock)
    made.record_success()
    assert made.state == "closed"


def test_listeners_hear_each_opening_once_and_a_failing_listener_is_contained(clock: Clock) -> None:
    made = breaker(clock, threshold=2)
    heard: list[str] = []
    made.on_open.append(lambda b: heard.append(b.name))
    made.on_open.append(lambda b: 1 / 0)
    for _ in range(5):
        made.record_failure()
    assert heard == ["test"]
    clock.now += 5.0
    assert made.admit() == TRIAL
    made.record_failure(trial=True)
    assert heard == ["test", "test"]


def test_reset_closes_it_and_keeps_the_counters(clock: Clock) -> None:
    made = opened(clock)
    made.reset()
    assert made.state == "closed"
    assert made.admit() == ADMITTED
    assert made.opened_total == 1 and made.failures_total == 3


def test_thresholds_below_one_and_negative_timeouts_are_clamped(clock: Clock) -> None:
    made = CircuitBreaker("clamped", failure_threshold=0, recovery_timeout=-1.0, clock=clock)
    assert made.failure_threshold == 1 and made.recovery_timeout == 0.0
    made.record_failure()
    assert made.state == "half_open"  # open for no time at all: the next call is a trial
    assert made.admit() == TRIAL


def test_the_snapshot_tells_the_state_and_the_counters(clock: Clock) -> None:
    made = opened(clock, recovery=5.0)
    snapshot = made.snapshot()
    assert (snapshot.name, snapshot.state, snapshot.retry_after, snapshot.consecutive_failures) == ("test", "open", 5.0, 3)
    clock.now += 5.0
    assert made.snapshot().retry_after is None
