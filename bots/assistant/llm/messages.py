"""What a chat with a language model is made of, as plain data: the request, the streamed parts, tool calls.

Kept apart from ``provider.py`` (the ``openai`` SDK) so that what only needs
the shapes (the tools a profile may use, checked when staff save it) does not
load the SDK: a server process never talks to a model and is about 40 MB
smaller for it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """What one answer asks a provider for (the same for each provider of the failover)."""

    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] = field(default_factory=list)
    temperature: float | None = None
    max_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    index: int
    id: str | None
    name: str | None
    arguments: str | None


@dataclass(frozen=True, slots=True)
class StreamPart:
    text: str = ""
    tool_calls: tuple[ToolCallDelta, ...] = ()
    finish_reason: str | None = None

    @property
    def meaningful(self) -> bool:
        """Whether this part is a token of the answer (not a role-only or empty chunk)."""
        return bool(self.text or self.tool_calls or self.finish_reason)


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A complete tool call as the model asked for it (arguments not yet checked)."""

    id: str
    name: str
    arguments: str
    truncated: bool = False
