"""Every opening of a circuit breaker is an error of its own, stored for staff.

``ErrorsConfig.ready`` subscribes ``breaker_opened_report`` to every
dependency's breaker (resilience.registry), the ones made later included.
"""
from __future__ import annotations

from errors.boundary import report_error
from errors.exceptions import VoiceBotError
from resilience.guard import Dependency


def breaker_opened_report(dependency: Dependency) -> None:
    error = dependency.unavailable_error()
    if not isinstance(error, VoiceBotError):
        return
    breaker = dependency.breaker
    error.context.update(failures=breaker.failure_threshold, last_failure=breaker.last_failure)
    report_error(error, transport="internal", where=f"breaker.{dependency.name}")
