"""The client of an OpenAI-compatible speech server (OpenAI, speaches, LocalAI, vLLM...).

The base URL and model come from settings; the API key only from the
environment variable that settings name, read at each request and handed to
the SDK, never kept elsewhere, logged or stored. Without the variable the
client sends no key (local servers need none). The SDK's own
retries are off: the chain decides what happens after a failure. Failures
become ``ProviderError`` s whose reason names the status or the kind of
failure, never the server's text (which could echo a credential).
"""
from __future__ import annotations

import os
from urllib.parse import urlsplit

import openai

from bots.speech.exceptions import ProviderError

# The SDK's own limit on one request; the chain's deadline is what counts.
SDK_TIMEOUT = 120.0


def client_unavailable_reason(base_url: str) -> str | None:
    if not base_url:
        return "no base URL is set"
    return None


def speech_client(*, base_url: str, key_env: str) -> openai.AsyncOpenAI:
    async def api_key() -> str:
        # Read at each request: a rotated key is used at once, and none is kept here. The SDK
        # never falls back to OPENAI_API_KEY when settings name another variable.
        return os.environ.get(key_env, "")

    return openai.AsyncOpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=SDK_TIMEOUT)


def key_headers(key_env: str) -> dict[str, object]:
    """Extra headers of one request: without a key, no Authorization header at all."""
    return {} if os.environ.get(key_env) else {"Authorization": openai.omit}


def server_name(base_url: str) -> str:
    """Host and port of the server, for reasons and logs."""
    return urlsplit(base_url).netloc or base_url


def provider_error(exc: openai.OpenAIError, base_url: str) -> ProviderError:
    """What went wrong with a call to the server, in words that hold no secret."""
    where = server_name(base_url)
    if isinstance(exc, openai.APIStatusError):
        return ProviderError(f"HTTP {exc.status_code} from {where}")
    if isinstance(exc, openai.APITimeoutError):
        return ProviderError(f"{where} timed out")
    if isinstance(exc, openai.APIConnectionError):
        return ProviderError(f"cannot connect to {where}")
    if isinstance(exc, openai.APIResponseValidationError):
        return ProviderError(f"{where} answered something that is not a valid answer")
    return ProviderError(f"{type(exc).__name__} from {where}")
