"""One OpenAI-compatible language-model endpoint: a streamed chat completion, read defensively.

``LLMProvider.open`` starts a streamed ``/chat/completions`` request through
the ``openai`` SDK (its own retries off: the failover decides what follows a
failure) and ``parts`` turns each chunk into a ``StreamPart``: text, pieces
of tool calls, the finish reason. Anything that is not the shape of a chunk
(not JSON, no list of choices, a delta that is not text) is garbage: an
``LLMProviderError``, never an ``AttributeError`` deep in the bot.

Failures are split the way the anchors split them (Pipecat, LiveKit): a 4xx
other than 408 and 429, or an auth failure, is permanent: the provider is out
of use (``disable``) until its settings or its key change, and no breaker
counts it; a 5xx, a 408 or 429, a timeout, a connection error, garbage or a
stream cut short is transient: the next provider is tried and the breaker
counts it. Reasons name the status or the kind of failure, never the
server's text (which could echo a credential).
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import openai

from bots.assistant.exceptions import LLMProviderError
from bots.assistant.llm.config import LLMProviderConfig
from bots.assistant.llm.messages import ChatRequest, StreamPart, ToolCall, ToolCallDelta
from bots.speech.openai_client import key_headers, server_name, speech_client

# Statuses of a 4xx that say "later", not "never".
TRANSIENT_4XX = frozenset({408, 425, 429})
# Most tool calls one answer may ask for, and the longest arguments of one.
MAX_TOOL_CALLS = 8
MAX_TOOL_ARGUMENTS = 16 * 1024


class ToolCallAssembler:
    """Tool calls put together from their streamed pieces, by index."""

    def __init__(self) -> None:
        self._calls: dict[int, dict[str, Any]] = {}

    def add(self, delta: ToolCallDelta) -> None:
        call = self._calls.get(delta.index)
        if call is None:
            if len(self._calls) >= MAX_TOOL_CALLS:
                raise LLMProviderError(f"asked for more than {MAX_TOOL_CALLS} tool calls in one answer")
            call = self._calls[delta.index] = {"id": "", "name": "", "arguments": [], "size": 0, "truncated": False}
        if delta.id:
            call["id"] = delta.id[:100]
        if delta.name:
            call["name"] = (call["name"] + delta.name)[:200]
        if delta.arguments:
            room = MAX_TOOL_ARGUMENTS - call["size"]
            if len(delta.arguments) > room:
                call["truncated"] = True
            piece = delta.arguments[:max(0, room)]
            call["arguments"].append(piece)
            call["size"] += len(piece)

    def calls(self) -> list[ToolCall]:
        return [
            ToolCall(id=call["id"] or f"call_{index}", name=call["name"], arguments="".join(call["arguments"]),
                     truncated=call["truncated"])
            for index, call in sorted(self._calls.items())
        ]


def _text(value: object, what: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise LLMProviderError(f"answered garbage ({what} is not text)")


def part_parse(chunk: object) -> StreamPart:
    """One streamed chunk as a ``StreamPart``, or LLMProviderError when it is not the shape of one."""
    choices = getattr(chunk, "choices", None)
    if not isinstance(choices, list):
        raise LLMProviderError("answered garbage (a chunk without a list of choices)")
    if not choices:  # a usage chunk, or a keep-alive
        return StreamPart()
    choice = choices[0]
    delta = getattr(choice, "delta", None)
    finish = _text(getattr(choice, "finish_reason", None), "the finish reason")
    if delta is None:
        if finish is None:
            raise LLMProviderError("answered garbage (a choice without a delta)")
        return StreamPart(finish_reason=finish)
    text = _text(getattr(delta, "content", None), "the content") or ""
    deltas = []
    raw_calls = getattr(delta, "tool_calls", None)
    if raw_calls is not None:
        if not isinstance(raw_calls, list):
            raise LLMProviderError("answered garbage (tool calls that are not a list)")
        for raw in raw_calls:
            index = getattr(raw, "index", None)
            if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < 1000:
                raise LLMProviderError("answered garbage (a tool call without an index)")
            function = getattr(raw, "function", None)
            deltas.append(ToolCallDelta(
                index=index,
                id=_text(getattr(raw, "id", None), "a tool call's id"),
                name=_text(getattr(function, "name", None), "a tool's name"),
                arguments=_text(getattr(function, "arguments", None), "a tool call's arguments"),
            ))
    return StreamPart(text=text, tool_calls=tuple(deltas), finish_reason=finish)


class LLMProvider:
    """One endpoint of ``VOICEBOT_LLM_PROVIDERS``; one per process and config (its connections are reused)."""

    def __init__(self, config: LLMProviderConfig) -> None:
        self.config = config
        self._client: openai.AsyncOpenAI | None = None
        self._client_loop: asyncio.AbstractEventLoop | None = None
        # (fingerprint, reason) while a permanent failure keeps it out of use.
        self._disabled: tuple[str, str] | None = None

    @property
    def name(self) -> str:
        return self.config.name

    def __repr__(self) -> str:
        return f"<LLMProvider {self.name} {server_name(self.config.base_url)} {self.config.model}>"

    @property
    def client(self) -> openai.AsyncOpenAI:
        """The SDK's client, one per event loop (its pooled connections belong to the loop that opened them)."""
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if self._client is None or (loop is not None and self._client_loop is not loop):
            # The key is read from the environment at each request (never kept here).
            self._client = speech_client(base_url=self.config.base_url, key_env=self.config.api_key_env)
            self._client_loop = loop
        return self._client

    # --- Out of use until its settings change -----------------------------

    def unusable_reason(self) -> str | None:
        """Why the provider is out of use (a permanent failure, its settings unchanged since), or None."""
        if self._disabled is None:
            return None
        fingerprint, reason = self._disabled
        if fingerprint != self.config.fingerprint():
            self._disabled = None  # its key or settings changed: try it again
            return None
        return reason

    def disable(self, reason: str) -> None:
        self._disabled = (self.config.fingerprint(), f"{reason}; out of use until its settings change")

    # --- Calls ------------------------------------------------------------

    def _body(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.config.model, "messages": request.messages, "stream": stream,
                                "extra_headers": key_headers(self.config.api_key_env or "")}
        if request.tools:
            body["tools"] = request.tools
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.max_tokens is not None:
            body["max_tokens"] = request.max_tokens
        return body

    async def open(self, request: ChatRequest) -> openai.AsyncStream:
        """Start a streamed completion: the HTTP status is known, no chunk read yet."""
        try:
            return await self.client.chat.completions.create(**self._body(request, stream=True))
        except openai.OpenAIError as exc:
            raise self.error(exc) from None

    async def parts(self, stream: openai.AsyncStream) -> AsyncIterator[StreamPart]:
        """The stream's parts; the SDK's failures and garbage become LLMProviderError."""
        iterator = stream.__aiter__()
        while True:
            try:
                chunk = await anext(iterator)
            except StopAsyncIteration:
                return
            except openai.OpenAIError as exc:
                raise self.error(exc) from None
            except ValueError:  # a data line that is not JSON
                raise LLMProviderError("answered garbage (a streamed chunk that is not JSON)") from None
            yield part_parse(chunk)

    async def complete(self, request: ChatRequest) -> str:
        """A whole completion without streaming (the probe's call): its text."""
        try:
            answer = await self.client.chat.completions.create(**self._body(request, stream=False))
        except openai.OpenAIError as exc:
            raise self.error(exc) from None
        except ValueError:
            raise LLMProviderError("answered garbage (not JSON)") from None
        choices = getattr(answer, "choices", None)
        if not isinstance(choices, list) or not choices:
            raise LLMProviderError("answered garbage (an answer without choices)")
        message = getattr(choices[0], "message", None)
        return _text(getattr(message, "content", None), "the content") or ""

    def error(self, exc: openai.OpenAIError) -> LLMProviderError:
        """What went wrong, in words that hold no secret; permanent for a 4xx that will not pass later."""
        where = server_name(self.config.base_url)
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            permanent = 400 <= status < 500 and status not in TRANSIENT_4XX
            return LLMProviderError(f"HTTP {status} from {where}", permanent=permanent)
        if isinstance(exc, openai.APITimeoutError):
            return LLMProviderError(f"{where} timed out")
        if isinstance(exc, openai.APIConnectionError):
            return LLMProviderError(f"cannot connect to {where}")
        if isinstance(exc, openai.APIResponseValidationError):
            return LLMProviderError(f"{where} answered something that is not a valid answer")
        if isinstance(exc, openai.APIError):  # an error event inside the stream
            return LLMProviderError(f"{where} sent an error in its stream")
        return LLMProviderError(f"{type(exc).__name__} from {where}")

