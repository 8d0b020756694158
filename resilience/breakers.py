"""Circuit breakers: stop calling a dependency that is down, try it again later.

Why a class of our own: the asyncio breakers on PyPI (purgatory, aiobreaker)
go through an async storage or listener machinery on every call, and
pybreaker takes a lock on every call (its Redis storage is synchronous and
would block the event loop). The channel layer's breaker is checked once per
relayed frame, so the check while closed must cost one attribute read: no
lock, no I/O, no allocation. Transitions (rare) take a lock, because the
database breaker is also used from worker threads.

States: ``closed`` (calls go through; ``failure_threshold`` failures in a
row open it), ``open`` (calls are refused at once with a ``retry_after``
until ``recovery_timeout`` has passed), ``half_open`` (one trial call goes
through: its success closes the breaker, its failure opens it again, and a
trial that ends without a verdict, cancelled, gives the trial back to the
next caller). A trial that has not ended after ``trial_timeout`` seconds is
presumed lost and the next caller gets a new one, so that no outcome, not
even a hang, can leave a breaker half-open for good.

Callers do not drive a breaker themselves: ``resilience.guard.Dependency``
admits each attempt and settles it in every outcome.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Literal

from prometheus_client import Counter, Gauge

State = Literal["closed", "open", "half_open"]
STATE_VALUES: dict[State, int] = {"closed": 0, "half_open": 1, "open": 2}

# What ``admit`` answers.
REFUSED = 0
ADMITTED = 1
TRIAL = 2

# With several server processes, /metrics shows the worst state of any live process.
BREAKER_STATE = Gauge(
    "voicebot_circuit_breaker_state",
    "Circuit breaker state: 0 closed, 1 half-open, 2 open.",
    ["breaker"],
    multiprocess_mode="livemax",
)
BREAKER_OPENED = Counter("voicebot_circuit_breaker_opened_total", "Times a circuit breaker opened.", ["breaker"])
BREAKER_REJECTED = Counter(
    "voicebot_circuit_breaker_rejected_total", "Calls refused because a circuit breaker was open.", ["breaker"]
)

logger = logging.getLogger("voicebot.resilience")


@dataclass(frozen=True, slots=True)
class BreakerSnapshot:
    name: str
    state: State
    failure_threshold: int
    recovery_timeout: float
    consecutive_failures: int
    failures_total: int
    successes_total: int
    rejected_total: int
    opened_total: int
    retry_after: float | None
    last_failure: str
    last_failure_at: datetime | None
    changed_at: datetime | None


class CircuitBreaker:
    def __init__(
        self,
        name: str,
        *,
        failure_threshold: int,
        recovery_timeout: float,
        trial_timeout: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.failure_threshold = max(1, failure_threshold)
        self.recovery_timeout = max(0.0, recovery_timeout)
        self.trial_timeout = max(0.0, trial_timeout)
        self.clock = clock
        self._lock = threading.Lock()
        # The hot-path flag: 0.0 while closed.
        self._open_until = 0.0  # monotonic time the open state ends
        self._failures = 0  # consecutive failures
        self._trial_since: float | None = None  # when the running trial was admitted
        self.failures_total = 0
        self.successes_total = 0
        self.rejected_total = 0
        self.opened_total = 0
        self.last_failure = ""
        self.last_failure_at: datetime | None = None
        self.changed_at: datetime | None = None
        # Called (without the lock) with the breaker each time it opens.
        self.on_open: list[Callable[[CircuitBreaker], None]] = []
        BREAKER_STATE.labels(name).set(0)

    # --- Admission -------------------------------------------------------

    def admit(self) -> int:
        """``ADMITTED`` (closed), ``TRIAL`` (the one trial of half-open) or ``REFUSED``."""
        if not self._open_until:
            return ADMITTED
        now = self.clock()
        if now < self._open_until:
            self._refused()
            return REFUSED
        with self._lock:
            if not self._open_until:
                return ADMITTED
            if self._trial_since is not None and now - self._trial_since < self.trial_timeout:
                self._refused()
                return REFUSED
            self._trial_since = now
            BREAKER_STATE.labels(self.name).set(STATE_VALUES["half_open"])
            return TRIAL

    def _refused(self) -> None:
        self.rejected_total += 1
        BREAKER_REJECTED.labels(self.name).inc()

    def retry_after(self) -> float:
        """Seconds until the next call may go through (at least a little)."""
        if not self._open_until:
            return 0.0
        return round(max(0.5, self._open_until - self.clock()), 2)

    # --- Settling --------------------------------------------------------

    def record_success(self) -> None:
        """The dependency answered: the breaker closes (a trial's success, or a call that was in flight)."""
        self.successes_total += 1
        if not (self._failures or self._open_until):
            return
        with self._lock:
            reopened = bool(self._open_until)
            self._failures = 0
            self._open_until = 0.0
            self._trial_since = None
            if reopened:
                self.changed_at = datetime.now(timezone.utc)
                BREAKER_STATE.labels(self.name).set(STATE_VALUES["closed"])

    def record_failure(self, exc: BaseException | None = None, *, trial: bool = False) -> None:
        """The dependency failed; a trial's failure, or the threshold reached, opens the breaker."""
        opened = False
        with self._lock:
            self.failures_total += 1
            self._failures += 1
            self.last_failure = type(exc).__name__ if exc is not None else "failure"
            self.last_failure_at = datetime.now(timezone.utc)
            if trial or (not self._open_until and self._failures >= self.failure_threshold):
                self.opened_total += 1
                BREAKER_OPENED.labels(self.name).inc()
                self.changed_at = self.last_failure_at
                opened = True
                self._open_until = (self.clock() + self.recovery_timeout) or 1e-9
                self._trial_since = None
                BREAKER_STATE.labels(self.name).set(STATE_VALUES["open"])
        if opened:
            for callback in list(self.on_open):
                try:
                    callback(self)
                except Exception:  # noqa: BLE001 - a listener must not break the caller
                    logger.exception("circuit breaker listener failed")

    def release_trial(self) -> None:
        """The trial ended without a verdict (cancelled): the next caller gets the trial."""
        with self._lock:
            if self._trial_since is not None:
                self._trial_since = None
                if self._open_until:
                    BREAKER_STATE.labels(self.name).set(STATE_VALUES["open"])

    # --- State -----------------------------------------------------------

    @property
    def state(self) -> State:
        if not self._open_until:
            return "closed"
        if self._trial_since is not None or self.clock() >= self._open_until:
            return "half_open"
        return "open"

    def snapshot(self) -> BreakerSnapshot:
        state = self.state
        return BreakerSnapshot(
            name=self.name,
            state=state,
            failure_threshold=self.failure_threshold,
            recovery_timeout=self.recovery_timeout,
            consecutive_failures=self._failures,
            failures_total=self.failures_total,
            successes_total=self.successes_total,
            rejected_total=self.rejected_total,
            opened_total=self.opened_total,
            retry_after=self.retry_after() if state == "open" else None,
            last_failure=self.last_failure,
            last_failure_at=self.last_failure_at,
            changed_at=self.changed_at,
        )

    def reset(self) -> None:
        """Back to closed with counters kept (tests, and staff after a repair)."""
        with self._lock:
            self._failures = 0
            self._open_until = 0.0
            self._trial_since = None
            BREAKER_STATE.labels(self.name).set(STATE_VALUES["closed"])
