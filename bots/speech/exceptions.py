"""The errors of the speech layer.

``SpeechUnavailableError`` is what a bot meets when every provider of a role
failed: it stays up, reports ``unavailable`` and probes until a provider
answers again. ``SpeechInputError`` is bad input handed to the speech layer
(wrong type, empty where audio is needed, too long): a bug of the caller, told
in words. ``ProviderError`` is one provider's failure, inside a chain only.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from errors.choices import Recovery, Severity
from errors.exceptions import BotError, ValidationError


@dataclass(frozen=True, slots=True)
class ProviderFailure:
    """Why one provider of a chain did not serve a call."""

    provider: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"provider": self.provider, "reason": self.reason}


class SpeechUnavailableError(BotError):
    """Every provider of a role failed (or, mid-stream, the one that was speaking)."""

    code = "bot_unavailable"
    message = "The bot cannot use its speech service right now. It will recover by itself."
    severity = Severity.MEDIUM
    recovery = Recovery.RETRY
    http_status = 503
    retry_after = 2.0

    def __init__(self, *, role: str, failures: Sequence[ProviderFailure], retry_after: float | None = None,
                 partial: bool = False) -> None:
        self.role = role
        self.failures = tuple(failures)
        # True when audio of this call had gone out before its provider failed.
        self.partial = partial
        super().__init__(
            retry_after=retry_after,
            context={"role": role, "partial": partial, "providers": [failure.as_dict() for failure in self.failures]},
        )

    def __str__(self) -> str:
        reasons = "; ".join(f"{failure.provider}: {failure.reason}" for failure in self.failures) or "no provider"
        return f"{self.role} unavailable ({reasons})"


class SpeechInputError(ValidationError):
    """The speech layer was handed input it cannot take; the message says which."""

    code = "invalid_message"
    message = "That input cannot be turned into speech or text."


class ProviderError(Exception):
    """One provider failed a call; ``reason`` is safe to log and store (never a secret)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)
