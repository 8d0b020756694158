"""One answer of the assistant: model rounds and their tool calls, streamed as sentences to speak.

``Answer.sentences()`` yields each sentence as soon as it is complete, cut at
the profile's answer length. Taking the first sentence commits the model's
stream (from then on a failing provider ends the answer instead of another
one starting it over: nothing is said twice). When the model asks for tools,
each call is checked and run (or refused) by the profile's ``ToolSet`` for
the speakers this answer answers, the outcomes go back to the model, and its
next round carries on the answer; at most ``MAX_TOOL_ROUNDS`` rounds offer
tools, the last offers none (so a model that keeps asking is told no, and
must answer in words).

Every refused or failed call and every provider failure is handed to
``report`` (to be stored with category ``bot``). Closing the answer (a
barge-in, the answer length reached) closes the model's stream, which
closes its HTTP response: the provider stops generating.

The timings a turn's metrics need are kept on the answer: when it asked,
its first token, its first sentence, which providers were tried and which
served, whether a fallback did, whether it was cut.
"""
from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from bots.assistant.context import Conversation
from bots.assistant.exceptions import LLMUnavailableError, ToolCallRefusedError
from bots.assistant.llm.messages import ChatRequest, ToolCall
from bots.assistant.llm.router import LLMRouter, Report
from bots.assistant.llm.stream import AnswerStream, Restarted
from bots.assistant.sentences import AnswerLimit, SentenceStream
from bots.assistant.tools import ToolHost, ToolOutcome, ToolSet, ToolTurn

MAX_TOOL_ROUNDS = 2


def max_tokens_for(words: int) -> int:
    """Tokens to ask for an answer of ``words`` words (and room for a tool call's arguments)."""
    return words * 3 + 48


class Answer:
    def __init__(
        self,
        *,
        router: LLMRouter,
        conversation: Conversation,
        instructions: str,
        tools: ToolSet,
        host: ToolHost,
        max_words: int,
        temperature: float | None = None,
        present: Iterable[str] = (),
        report: Report | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.router = router
        self.conversation = conversation
        self.instructions = instructions
        self.tools = tools
        self.host = host
        self.temperature = temperature
        self.present = list(present)
        self.report = report
        self.clock = clock
        self.limit = AnswerLimit(max_words)
        self.turn = ToolTurn(conversation.bot_session_id, conversation.speakers_since_answer())
        self.streams: list[AnswerStream] = []
        self.outcomes: list[ToolOutcome] = []
        self.requested_at: float | None = None
        self.first_sentence_at: float | None = None
        self._sentences: AsyncIterator[str] | None = None

    # --- What the metrics read ------------------------------------------------

    @property
    def first_token_at(self) -> float | None:
        return self.streams[0].first_token_at if self.streams else None

    @property
    def provider(self) -> str | None:
        """The provider that served the first round."""
        return self.streams[0].provider if self.streams else None

    @property
    def providers(self) -> list[str]:
        tried: list[str] = []
        for stream in self.streams:
            tried.extend(name for name in stream.tried if name not in tried)
        return tried

    @property
    def fallback(self) -> bool:
        return any(stream.fallback for stream in self.streams)

    @property
    def cut(self) -> bool:
        """Whether the answer reached the answer length and was cut there."""
        return self.limit.reached

    # --- Running ----------------------------------------------------------------

    def sentences(self) -> AsyncIterator[str]:
        """The answer's sentences, each as soon as it is complete (the same iterator at each call).

        LLMUnavailableError when no provider served; ``partial`` when part of
        the answer had been said (in this round or an earlier one).
        """
        if self._sentences is None:
            self._sentences = self._run()
        return self._sentences

    async def _run(self) -> AsyncIterator[str]:
        rounds = self._rounds()
        try:
            async for sentence in rounds:
                yield sentence
        except LLMUnavailableError as exc:
            if exc.partial or self.first_sentence_at is None:
                raise
            raise LLMUnavailableError(failures=exc.failures, retry_after=exc.retry_after, partial=True) from None
        finally:
            await rounds.aclose()  # closed here, not when it is collected: its stream's response with it

    async def _rounds(self) -> AsyncIterator[str]:
        self.requested_at = self.clock()
        messages: list[dict[str, Any]] = self.conversation.messages(self.instructions, present=self.present)
        splitter = SentenceStream()
        for round_index in range(MAX_TOOL_ROUNDS + 1):
            offer = self.tools.schemas() if round_index < MAX_TOOL_ROUNDS else []
            request = ChatRequest(messages=messages, tools=offer, temperature=self.temperature,
                                  max_tokens=max_tokens_for(self.limit.max_words))
            stream = self.router.stream(request)
            self.streams.append(stream)
            spoken: list[str] = []
            try:
                async for event in stream:
                    if isinstance(event, Restarted):
                        splitter.reset()
                        continue
                    for sentence in splitter.push(event.text):
                        said = self._take(stream, sentence, spoken)
                        if said:
                            yield said
                        if self.limit.reached:
                            return
                for sentence in splitter.flush():
                    said = self._take(stream, sentence, spoken)
                    if said:
                        yield said
                    if self.limit.reached:
                        return
            finally:
                await stream.aclose()
            if not stream.tool_calls:
                return
            outcomes = [await self._execute(call, stream, offered=bool(offer)) for call in stream.tool_calls]
            messages = [*messages, _assistant_message(" ".join(spoken), stream.tool_calls),
                        *(outcome.message() for outcome in outcomes)]

    def _take(self, stream: AnswerStream, sentence: str, spoken: list[str]) -> str | None:
        """The sentence as it will be said (within the answer length); the stream commits to it."""
        said = self.limit.take(sentence)
        if not said:
            return None
        stream.commit()
        if self.first_sentence_at is None:
            self.first_sentence_at = self.clock()
        spoken.append(said)
        return said

    async def _execute(self, call: ToolCall, stream: AnswerStream, *, offered: bool) -> ToolOutcome:
        if not offered:
            refused = ToolCallRefusedError(tool=call.name, reason="no more tool calls in this answer",
                                           provider=stream.provider)
            outcome = ToolOutcome(call, {"error": f"refused: {refused.reason}"}, refused=refused)
        else:
            outcome = await self.tools.execute(call, turn=self.turn, host=self.host, provider=stream.provider)
        self.outcomes.append(outcome)
        problem = outcome.refused or outcome.failed
        if problem is not None and self.report is not None:
            self.report(problem)
        return outcome

    async def aclose(self) -> None:
        """Stop the answer where it is (a barge-in): the model's stream is closed.

        Call it from the task that iterates ``sentences()`` (between two
        sentences), or cancel that task: either closes the stream at once.
        """
        if self._sentences is not None:
            await self._sentences.aclose()  # type: ignore[attr-defined]


def _assistant_message(text: str, calls: list[ToolCall]) -> dict[str, Any]:
    """The model's own turn that asked for ``calls``, as the next round must repeat it."""
    return {
        "role": "assistant",
        "content": text or None,
        "tool_calls": [
            {"id": call.id, "type": "function",
             "function": {"name": call.name[:200], "arguments": call.arguments if _is_json(call.arguments) else "{}"}}
            for call in calls
        ],
    }


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True
