"""The speech providers as dependencies of the project's one guarded call (``resilience``).

Each provider of a chain is the named dependency ``<role>.<provider>`` (e.g.
``stt.faster_whisper``): a circuit breaker of its own, listed with the
process's others in /readyz, /metrics and the admin dashboard. Every call
to it goes through ``Dependency.call`` or ``Dependency.attempt`` with a
deadline: a provider that hangs is a failure, not a wait. Bad input handed
down by the caller (``SpeechInputError``) is the caller's error and never
counts against a provider; anything else a provider raises is its failure.
"""
from __future__ import annotations

from bots.speech.exceptions import SpeechInputError
from resilience.errors import DependencyUnavailableError
from resilience.guard import Dependency, Outcome
from resilience.registry import dependency as registered_dependency

__all__ = ["Dependency", "DependencyUnavailableError", "dependency"]


def classify(exc: BaseException) -> Outcome:
    return Outcome.CALLER_ERROR if isinstance(exc, SpeechInputError) else Outcome.FAILURE


def dependency(name: str) -> Dependency:
    """This process's dependency ``name``, made on first use with the speech classifier."""
    return registered_dependency(name, classify=classify)
