"""The language-model providers as dependencies of the project's one guarded call (``resilience``).

Each provider is the named dependency ``llm.<name>``: a circuit breaker of
its own, listed with the process's others in /readyz, /metrics and the admin
dashboard. A permanent failure (a 4xx, an auth failure) is an answer for the
breaker, never counted against it (the provider is taken out of use
instead); anything else a provider raises is its failure.
"""
from __future__ import annotations

from bots.assistant.exceptions import LLMProviderError
from bots.assistant.llm.provider import LLMProvider
from resilience.guard import Dependency, Outcome
from resilience.registry import dependency as registered_dependency


def classify(exc: BaseException) -> Outcome:
    if isinstance(exc, LLMProviderError) and exc.permanent:
        return Outcome.CALLER_ERROR
    return Outcome.FAILURE


def llm_dependency(provider: LLMProvider) -> Dependency:
    """This process's dependency of ``provider``, made on first use with the language-model classifier."""
    return registered_dependency(provider.config.dependency_name, classify=classify)
