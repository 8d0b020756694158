"""What the assistant's own layers cost on this machine, apart from the models: the LLM path, failover, cancellation.

Starts scripted OpenAI-compatible servers on loopback ports (the tests' own,
bots/tests/llm_server.py) whose first token takes ``--first-token`` seconds,
and times, over ``--rounds`` answers each:

- the LLM layer's overhead: request to first token, minus the server's delay
  (the openai SDK, the guarded call, chunk parsing);
- question to first sentence of a typical answer (context messages, the
  request, the sentence splitter), minus the server's delay;
- failover from a provider that hangs to the fallback's first token, with the
  first-token deadline of ``--deadline`` seconds;
- a barge-in's cancellation: closing an answer until the server sees its
  client go away;
- CPU per call: splitting 1,000 tokens into sentences, building the messages
  of a full conversation (tiktoken), one echo score.

Prints the numbers; asserts nothing. The machine may be shared: say so with the numbers.

    .venv/bin/python bench/assistant.py [--rounds 20] [--first-token 0.06] [--deadline 1.0]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voicebot_site.settings")
os.environ.setdefault("DEBUG", "1")
# Breaker openings are stored as errors; a benchmark stores nothing.
os.environ.setdefault("VOICEBOT_ERROR_WRITER", "manual")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402

from bots.assistant.answer import Answer  # noqa: E402
from bots.assistant.context import Conversation, tokenizer_load  # noqa: E402
from bots.assistant.llm.config import LLMProviderConfig  # noqa: E402
from bots.assistant.llm.messages import ChatRequest  # noqa: E402
from bots.assistant.llm.router import LLMRouter, provider_for  # noqa: E402
from bots.assistant.sentences import SentenceStream  # noqa: E402
from bots.assistant.tools import TOOLS, ParticipantView, ToolSet  # noqa: E402
from bots.assistant.turns.echo import EchoDetector  # noqa: E402
from bots.tests.llm_server import LLMServer, Reply  # noqa: E402

ANSWER = ("The capital of France is Paris. It lies on the Seine, in the north of the country, "
          "and about two million people live there.")
REQUEST = ChatRequest(messages=[{"role": "user", "content": "[Ann]: What is the capital of France?"}], max_tokens=60)


def summary(values: list[float], unit: str = "ms", scale: float = 1000.0) -> str:
    scaled = sorted(value * scale for value in values)
    p95 = scaled[min(len(scaled) - 1, int(round(0.95 * (len(scaled) - 1))))]
    return (f"median {statistics.median(scaled):.1f} {unit}, p95 {p95:.1f} {unit} "
            f"(min {scaled[0]:.1f}, max {scaled[-1]:.1f}, n={len(scaled)})")


def router(servers: list[tuple[LLMServer, str]], deadline: float) -> LLMRouter:
    return LLMRouter([provider_for(LLMProviderConfig(name, server.base_url, "bench")) for server, name in servers],
                     first_token_timeout=deadline, chunk_timeout=5.0)


class Host:
    def participants(self) -> list[ParticipantView]:
        return [ParticipantView("bot", "Jarvis", is_bot=True), ParticipantView("ann", "Ann")]

    async def mute(self, session_id: str) -> None:
        pass

    async def leave(self) -> None:
        pass


async def first_token_overhead(server: LLMServer, rounds: int, delay: float) -> list[float]:
    answers = router([(server, "bench_first")], 5.0)
    answers.warm_up()
    overheads = []
    for _ in range(rounds + 1):
        server.script(Reply(text=ANSWER, first_token_delay=delay))
        stream = answers.stream(REQUEST)
        async for _ in stream:
            pass
        overheads.append(stream.first_token_at - stream.started_at - delay)
    return overheads[1:]  # the first one opens the connection


async def first_sentence_overhead(server: LLMServer, rounds: int, delay: float) -> list[float]:
    answers = router([(server, "bench_sentence")], 5.0)
    answers.warm_up()
    results = []
    for index in range(rounds + 1):
        talk = Conversation(bot_session_id="bot", bot_name="Jarvis", lobby_id="bench", budget_tokens=3000)
        for turn in range(20):
            talk.heard(session_id="ann", name="Ann", text=f"Question {turn} about the trip to Paris next spring?")
            said = talk.answer()
            said.played(f"Answer {turn}: Paris is lovely in spring, bring an umbrella.")
            said.end()
        talk.heard(session_id="ann", name="Ann", text="What is the capital of France?")
        server.script(Reply(text=ANSWER, first_token_delay=delay, piece_chars=4))
        reply = Answer(router=answers, conversation=talk, instructions="You are a travel guide.",
                       tools=ToolSet(TOOLS), host=Host(), max_words=60)
        started = time.perf_counter()
        sentences = reply.sentences()
        await anext(sentences)
        elapsed = time.perf_counter() - started
        await sentences.aclose()
        if index:
            # The server streams four characters a chunk: the first sentence is 31 characters.
            results.append(elapsed - delay)
    return results


async def failover(rounds: int, deadline: float) -> list[float]:
    hanging, fallback = LLMServer().start(), LLMServer().start()
    try:
        answers = router([(hanging, "bench_hang"), (fallback, "bench_fallback")], deadline)
        answers.warm_up()
        results = []
        for _ in range(rounds):
            hanging.script(Reply(hang=True))
            fallback.script(Reply(text=ANSWER, first_token_delay=0.06))
            stream = answers.stream(REQUEST)
            async for _ in stream:
                pass
            results.append(stream.first_token_at - stream.started_at)
        return results
    finally:
        hanging.stop()
        fallback.stop()


async def cancellation(server: LLMServer, rounds: int) -> list[float]:
    answers = router([(server, "bench_cancel")], 5.0)
    results = []
    for _ in range(rounds):
        server.script(Reply(endless=True, piece_delay=0.005))
        stream = answers.stream(REQUEST)
        count = 0
        async for _ in stream:
            count += 1
            if count == 20:
                break
        started = time.perf_counter()
        await stream.aclose()
        request = server.requests[-1]
        await asyncio.to_thread(request.done.wait, 5)
        results.append(time.perf_counter() - started)
    return results


def cpu_costs() -> dict[str, float]:
    tokens = [" word" if index % 12 else "." for index in range(1000)]
    started = time.perf_counter()
    for _ in range(20):
        splitter = SentenceStream()
        for token in tokens:
            splitter.push(token)
        splitter.flush()
    split = (time.perf_counter() - started) / 20

    tokenizer_load()
    talk = Conversation(bot_session_id="bot", bot_name="Jarvis", lobby_id="bench", budget_tokens=3000)
    for turn in range(200):
        talk.heard(session_id="ann", name="Ann", text=f"Question {turn} about the trip to Paris next spring?")
    started = time.perf_counter()
    for _ in range(20):
        talk.messages("You are a travel guide.")
    messages = (time.perf_counter() - started) / 20

    rng = np.random.default_rng(0)
    detector = EchoDetector()
    bot = (rng.normal(0, 3000, 48_000 * 3) * np.repeat(rng.random(150), 960)).astype(np.int16)
    detector.played(bot, at=0.0)
    detector.heard((bot * 0.3).astype(np.int16), at=0.1)
    started = time.perf_counter()
    for _ in range(20):
        detector.score(0.5, 2.5)
    echo = (time.perf_counter() - started) / 20
    return {"split 1,000 tokens": split, "messages of 200 lines (3,000-token budget)": messages,
            "echo score over 2 s": echo}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--first-token", type=float, default=0.06, help="the server's delay to its first token")
    parser.add_argument("--deadline", type=float, default=1.0, help="first-token deadline for the failover")
    options = parser.parse_args()
    server = LLMServer().start()
    try:
        print(f"load average: {' '.join(f'{load:.2f}' for load in os.getloadavg())} on {os.cpu_count()} cores")
        print("LLM layer, request to first token, less the server's delay:",
              summary(await first_token_overhead(server, options.rounds, options.first_token)))
        print("question to first sentence (context, request, sentences), less the server's delay:",
              summary(await first_sentence_overhead(server, options.rounds, options.first_token)))
        print(f"failover from a hanging provider to the fallback's first token (deadline {options.deadline:g} s):",
              summary(await failover(max(3, options.rounds // 4), options.deadline), "s", 1.0))
        print("closing an answer until the server sees its client go:",
              summary(await cancellation(server, max(3, options.rounds // 2))))
    finally:
        server.stop()
    for name, seconds in cpu_costs().items():
        print(f"CPU, {name}: {seconds * 1000:.2f} ms")


if __name__ == "__main__":
    asyncio.run(main())
