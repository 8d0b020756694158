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
through: its success closes the breaker, its failure opens it again).
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

BREAKER_STATE = Gauge(
    "voicebot_circuit_breaker_state", "Circuit breaker state: 0 closed, 1 half-open, 2 open.", ["breaker"]
)
BREAKER_OPENED = Counter("voicebot_circuit_breaker_opened_total", "Times a circuit breaker opened.", ["breaker"])
BREAKER_REJECTED = Counter(
    "voicebot_circuit_breaker_rejected_total", "Calls refused because a circuit breaker was open.", ["breaker"]
)


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
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.failure_threshold = max(1, failure_threshold)
        self.recovery_timeout = max(0.0, recovery_timeout)
        self.clock = clock
        self._lock = threading.Lock()
        # The hot-path flags: both falsy while closed and healthy.
        self._open_until = 0.0  # monotonic time the open state ends, 0.0 when closed
        self._failures = 0  # consecutive failures
        self._trial_running = False
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

    # --- The call path -------------------------------------------------

    def allow(self) -> bool:
        """Whether a call may go through now (at most one trial while half-open)."""
        if not self._open_until:
            return True
        if self.clock() < self._open_until:
            self.rejected_total += 1
            BREAKER_REJECTED.labels(self.name).inc()
            return False
        with self._lock:
            if self._trial_running or not self._open_until:
                if self._open_until:
                    self.rejected_total += 1
                    BREAKER_REJECTED.labels(self.name).inc()
                    return False
                return True
            self._trial_running = True
            BREAKER_STATE.labels(self.name).set(STATE_VALUES["half_open"])
            return True

    def retry_after(self) -> float:
        """Seconds until the next call may go through (at least a little)."""
        if not self._open_until:
            return 0.0
        return round(max(0.5, self._open_until - self.clock()), 2)

    def record_success(self) -> None:
        self.successes_total += 1
        if not (self._failures or self._open_until):
            return
        with self._lock:
            reopened = bool(self._open_until)
            self._failures = 0
            self._open_until = 0.0
            self._trial_running = False
            if reopened:
                self.changed_at = datetime.now(timezone.utc)
                BREAKER_STATE.labels(self.name).set(STATE_VALUES["closed"])

    def record_failure(self, exc: BaseException | None = None) -> None:
        opened = False
        with self._lock:
            self.failures_total += 1
            self._failures += 1
            self.last_failure = type(exc).__name__ if exc is not None else "failure"
            self.last_failure_at = datetime.now(timezone.utc)
            if self._trial_running or self._failures >= self.failure_threshold:
                if not self._open_until or self._trial_running:
                    self.opened_total += 1
                    BREAKER_OPENED.labels(self.name).inc()
                    self.changed_at = self.last_failure_at
                    opened = True
                self._open_until = self.clock() + self.recovery_timeout or 1e-9
                self._trial_running = False
                BREAKER_STATE.labels(self.name).set(STATE_VALUES["open"])
        if opened:
            for callback in list(self.on_open):
                try:
                    callback(self)
                except Exception:  # noqa: BLE001 - a listener must not break the caller
                    logging.getLogger("voicebot.errors").exception("circuit breaker listener failed")

    # --- State ----------------------------------------------------------

    @property
    def state(self) -> State:
        if not self._open_until:
            return "closed"
        if self._trial_running or self.clock() >= self._open_until:
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
            self._trial_running = False
            BREAKER_STATE.labels(self.name).set(STATE_VALUES["closed"])


_breakers: dict[str, CircuitBreaker] = {}
_registry_lock = threading.Lock()


def breaker_get(name: str) -> CircuitBreaker:
    """This process's breaker for dependency ``name``, made on first use from settings."""
    breaker = _breakers.get(name)
    if breaker is not None:
        return breaker
    from django.conf import settings

    with _registry_lock:
        breaker = _breakers.get(name)
        if breaker is None:
            breaker = _breakers[name] = CircuitBreaker(
                name,
                failure_threshold=settings.VOICEBOT_BREAKER_FAILURE_THRESHOLD,
                recovery_timeout=settings.VOICEBOT_BREAKER_RECOVERY_TIMEOUT,
            )
        return breaker


def breaker_snapshots() -> list[BreakerSnapshot]:
    """Every breaker of this process, by name."""
    return [_breakers[name].snapshot() for name in sorted(_breakers)]


def breakers_reset() -> None:
    """Close every breaker, with its thresholds read again from settings (tests)."""
    from django.conf import settings

    for breaker in list(_breakers.values()):
        breaker.failure_threshold = max(1, settings.VOICEBOT_BREAKER_FAILURE_THRESHOLD)
        breaker.recovery_timeout = max(0.0, settings.VOICEBOT_BREAKER_RECOVERY_TIMEOUT)
        breaker.reset()
