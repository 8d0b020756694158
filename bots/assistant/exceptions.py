"""The errors of the assistant: its language-model providers, the tools it refuses, stored conversations.

``LLMUnavailableError`` is what a bot meets when every language-model provider
failed (or the one answering died after part of the answer was spoken): it
stays in the lobby, says so, reports ``unavailable`` and probes until one
answers again. ``LLMProviderFailedError`` stores one provider's failure of
one answer (a 5xx, a deadline, a stream cut short, garbage, or a 4xx that
took it out of use), whether or not a fallback then served.
``ToolCallRefusedError`` stores a tool call the bot refused to run.
``LLMProviderError`` is one provider's failure inside the failover only.
None of these reaches a client as a frame: they are stored (category ``bot``).
"""
from __future__ import annotations

from collections.abc import Sequence

from bots.speech.exceptions import ProviderError, ProviderFailure
from errors.choices import Recovery, Severity
from errors.exceptions import BotError, ValidationError


class LLMUnavailableError(BotError):
    """Every language-model provider failed this answer (or, after audio went out, the one answering)."""

    code = "bot_unavailable"
    message = "The bot cannot reach its language model right now. It will recover by itself."
    severity = Severity.MEDIUM
    recovery = Recovery.RETRY
    http_status = 503
    retry_after = 2.0

    def __init__(self, *, failures: Sequence[ProviderFailure], retry_after: float | None = None,
                 partial: bool = False) -> None:
        self.role = "llm"
        self.failures = tuple(failures)
        # True when part of this answer had been spoken before its provider failed.
        self.partial = partial
        super().__init__(
            retry_after=retry_after,
            context={"role": "llm", "partial": partial, "providers": [failure.as_dict() for failure in self.failures]},
        )

    def __str__(self) -> str:
        reasons = "; ".join(f"{failure.provider}: {failure.reason}" for failure in self.failures) or "no provider"
        return f"llm unavailable ({reasons})"


class LLMProviderFailedError(BotError):
    """One provider failed one answer; ``permanent`` when it is out of use until its settings change."""

    code = "bot_provider_error"
    message = "A language-model provider of the bot failed; another one may have answered."
    severity = Severity.LOW
    recovery = Recovery.NONE

    def __init__(self, *, provider: str, reason: str, permanent: bool = False) -> None:
        self.provider = provider
        self.reason = reason
        self.permanent = permanent
        super().__init__(context={"provider": provider, "reason": reason, "permanent": permanent})

    def __str__(self) -> str:
        return f"llm provider {self.provider} failed: {self.reason}"


class ToolCallRefusedError(BotError):
    """The language model asked for a tool call the bot did not run; ``reason`` says why."""

    code = "bot_tool_refused"
    message = "The bot refused an action its language model asked for."
    severity = Severity.LOW
    recovery = Recovery.NONE

    def __init__(self, *, tool: str, reason: str, provider: str | None = None,
                 speaker_session_id: str | None = None) -> None:
        self.tool = tool
        self.reason = reason
        super().__init__(context={"tool": tool[:64], "reason": reason, "provider": provider,
                                  "speaker_session_id": speaker_session_id})

    def __str__(self) -> str:
        return f"tool call {self.tool[:64]!r} refused: {self.reason}"


class ConversationDataError(ValidationError):
    """A stored conversation that cannot be read back (the message says what is wrong)."""

    code = "invalid_message"
    message = "The stored conversation cannot be read."


class LLMProviderError(ProviderError):
    """One provider failed a call; ``permanent`` for a 4xx or an auth failure (out of use until its settings change)."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.permanent = permanent
