"""The language-model providers settings name, and the choice a profile makes among them.

``VOICEBOT_LLM_PROVIDERS`` (parsed and checked in voicebot_site/settings.py)
is an ordered list of OpenAI-compatible endpoints. Each provider's API key is
read from the environment variable its ``api_key_env`` names, at each request,
and never kept, logged or stored; ``fingerprint`` tells a provider taken out of
use (a 4xx, an auth failure) whether its settings or its key changed since,
and is held in memory only.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings

NO_PROVIDER_REASON = "No language-model provider is configured: set VOICEBOT_LLM_PROVIDERS."


class ProviderSelectionError(ValueError):
    """A profile names a provider that settings do not have; the message says which and what there is."""


@dataclass(frozen=True, slots=True)
class LLMProviderConfig:
    name: str
    base_url: str
    model: str
    # The NAME of the environment variable that holds the key ("" : no key is sent).
    api_key_env: str = ""

    @property
    def dependency_name(self) -> str:
        return f"llm.{self.name}"

    def fingerprint(self) -> str:
        """A digest of everything that decides whether the provider accepts a call, its key included."""
        key = os.environ.get(self.api_key_env, "") if self.api_key_env else ""
        text = "\x00".join((self.base_url, self.model, self.api_key_env, key))
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def configured_providers() -> list[LLMProviderConfig]:
    """Every provider of ``VOICEBOT_LLM_PROVIDERS``, in order."""
    return [LLMProviderConfig(**entry) for entry in settings.VOICEBOT_LLM_PROVIDERS]


def llm_unavailable_reason() -> str | None:
    """Why no assistant can run here (in words), or None."""
    return None if settings.VOICEBOT_LLM_PROVIDERS else NO_PROVIDER_REASON


def providers_select(selection: Sequence[object] | None) -> list[LLMProviderConfig]:
    """The providers a profile chose, in its order: names or 0-based indexes into the setting's list.

    An empty or missing selection is every provider, in the setting's order.
    """
    configured = configured_providers()
    if not selection:
        return configured
    if isinstance(selection, (str, bytes)) or not isinstance(selection, Sequence):
        raise ProviderSelectionError("The providers must be a list of provider names or indexes.")
    by_name = {provider.name: provider for provider in configured}
    chosen: list[LLMProviderConfig] = []
    for item in selection:
        if isinstance(item, bool) or not isinstance(item, (int, str)):
            raise ProviderSelectionError("Each provider must be a name or a 0-based index.")
        if isinstance(item, int):
            if not 0 <= item < len(configured):
                raise ProviderSelectionError(
                    f"There is no language-model provider {item}: VOICEBOT_LLM_PROVIDERS has {len(configured)}.")
            provider = configured[item]
        else:
            provider = by_name.get(item)
            if provider is None:
                known = ", ".join(by_name) or "none"
                raise ProviderSelectionError(
                    f"There is no language-model provider named {item[:40]!r}; the configured ones are: {known}.")
        if provider in chosen:
            raise ProviderSelectionError(f"The provider {provider.name} is chosen twice.")
        chosen.append(provider)
    return chosen
