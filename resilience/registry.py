"""This process's dependencies, one per name, and their breakers' states in one place.

``dependency(name, ...)`` returns the process's ``Dependency`` called
``name``, made on its first use with a breaker and a retry policy from
settings (or the options given then). Whatever is made here is listed by
``dependencies()`` and ``breaker_snapshots()``: ``/readyz``'s
``Circuit-Breakers`` header, ``/metrics`` and the admin dashboard show every
dependency without any caller registering itself. ``breaker_opened_subscribe``
adds a listener to every breaker, made now or later (the errors app stores
each opening as an error).
"""
from __future__ import annotations

import threading
from collections.abc import Callable

from django.conf import settings

from resilience.breakers import BreakerSnapshot, CircuitBreaker
from resilience.guard import Classifier, Dependency, UnavailableFactory, default_unavailable, failures_of
from resilience.retry import RetryPolicy

_dependencies: dict[str, Dependency] = {}
# name -> the options it was made with (kept by dependencies_reset)
_explicit: dict[str, dict[str, object]] = {}
_lock = threading.Lock()
_opened_listeners: list[Callable[[Dependency], None]] = []


def retry_policy_from_settings() -> RetryPolicy:
    initial = settings.VOICEBOT_RETRY_INITIAL_DELAY
    return RetryPolicy(
        attempts=settings.VOICEBOT_RETRY_ATTEMPTS, initial=initial, maximum=settings.VOICEBOT_RETRY_MAX_DELAY,
        jitter=initial,
    )


def _retry_after_setting() -> float:
    return float(settings.VOICEBOT_RETRY_AFTER)


def dependency(
    name: str,
    *,
    classify: Classifier | None = None,
    unavailable: UnavailableFactory = default_unavailable,
    failure_threshold: int | None = None,
    recovery_timeout: float | None = None,
    policy: RetryPolicy | None = None,
) -> Dependency:
    """The dependency ``name`` of this process; the options apply when it is first made.

    Without ``classify`` every ``Exception`` is a failure of the dependency.
    """
    existing = _dependencies.get(name)
    if existing is not None:
        return existing
    with _lock:
        existing = _dependencies.get(name)
        if existing is not None:
            return existing
        breaker = CircuitBreaker(
            name,
            failure_threshold=settings.VOICEBOT_BREAKER_FAILURE_THRESHOLD if failure_threshold is None
            else failure_threshold,
            recovery_timeout=settings.VOICEBOT_BREAKER_RECOVERY_TIMEOUT if recovery_timeout is None
            else recovery_timeout,
        )
        made = Dependency(
            name,
            breaker=breaker,
            policy=policy or retry_policy_from_settings(),
            classify=classify or failures_of(Exception),
            unavailable=unavailable,
            retry_after_default=_retry_after_setting,
        )
        for listener in _opened_listeners:
            breaker.on_open.append(_opened(listener, made))
        _explicit[name] = {
            key: value for key, value in
            (("failure_threshold", failure_threshold), ("recovery_timeout", recovery_timeout), ("policy", policy))
            if value is not None
        }
        _dependencies[name] = made
        return made


def _opened(listener: Callable[[Dependency], None], made: Dependency) -> Callable[[CircuitBreaker], None]:
    return lambda breaker: listener(made)


def breaker_opened_subscribe(listener: Callable[[Dependency], None]) -> None:
    """Call ``listener`` with the dependency each time any breaker opens, now and for dependencies made later."""
    with _lock:
        if listener in _opened_listeners:
            return
        _opened_listeners.append(listener)
        for made in _dependencies.values():
            made.breaker.on_open.append(_opened(listener, made))


def dependencies() -> list[Dependency]:
    """Every dependency of this process, by name."""
    return [_dependencies[name] for name in sorted(_dependencies)]


def breaker_snapshots() -> list[BreakerSnapshot]:
    """Every breaker of this process, by name."""
    return [made.breaker.snapshot() for made in dependencies()]


def dependencies_reset() -> None:
    """Close every breaker, with thresholds and retry policy read again from settings (tests).

    A dependency made with explicit options keeps them.
    """
    for name, made in list(_dependencies.items()):
        explicit = _explicit.get(name, {})
        made.breaker.failure_threshold = max(
            1, explicit.get("failure_threshold", settings.VOICEBOT_BREAKER_FAILURE_THRESHOLD))  # type: ignore[call-overload]
        made.breaker.recovery_timeout = max(
            0.0, explicit.get("recovery_timeout", settings.VOICEBOT_BREAKER_RECOVERY_TIMEOUT))  # type: ignore[call-overload]
        made.breaker.reset()
        made.policy = explicit.get("policy") or retry_policy_from_settings()  # type: ignore[assignment]
