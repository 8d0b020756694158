"""The language-model layer against a real model server nobody here wrote: llama.cpp's, with Gemma 3 270M.

One short streamed answer through the provider layer (the openai SDK, the
guarded failover, the chunk parsing) from ``xllamacpp``'s OpenAI-compatible
server in a process of its own. A base model: the words are not checked,
the protocol is.
"""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.conf import settings

from bots.assistant.llm.config import LLMProviderConfig
from bots.assistant.llm.messages import ChatRequest
from bots.assistant.llm.router import LLMRouter, provider_for
from bots.assistant.llm.stream import TextDelta

from .llamacpp_server import LlamaCppServer

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def gemma() -> Iterator[LlamaCppServer]:
    with LlamaCppServer(settings.VAR_DIR) as server:
        yield server


async def test_a_streamed_answer_comes_through_the_provider_layer(gemma: LlamaCppServer) -> None:
    provider = provider_for(LLMProviderConfig(name="gemma", base_url=gemma.base_url, model="gemma-3-270m"))
    # A busy two-core machine: the first token of a cold model may take seconds.
    router = LLMRouter([provider], first_token_timeout=60.0, chunk_timeout=30.0)
    request = ChatRequest(messages=[{"role": "system", "content": "You answer in one short sentence."},
                                    {"role": "user", "content": "[Ann]: What is the capital of France?"}],
                          temperature=0.0, max_tokens=8)

    stream = router.stream(request)
    deltas = [event async for event in stream]

    assert deltas and all(isinstance(delta, TextDelta) for delta in deltas)
    assert "".join(delta.text for delta in deltas).strip()
    assert stream.provider == "gemma" and stream.finish_reason in ("stop", "length")
    assert stream.first_token_at is not None and stream.tool_calls == []
    assert router.health().providers[0].state == "closed"
