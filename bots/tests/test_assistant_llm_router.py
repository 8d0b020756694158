"""The language-model failover against real local HTTP servers and real breakers.

Each provider is a scripted OpenAI-compatible server on its own loopback
port (bots/tests/llm_server.py); the router reaches it through the openai
SDK. What each failure does to the answer, to the next answer, to the
breaker, and what was stored.
"""
from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from bots.assistant.exceptions import LLMProviderFailedError, LLMUnavailableError
from bots.assistant.llm.messages import ChatRequest
from bots.assistant.llm.guard import llm_dependency
from bots.assistant.llm.router import provider_for
from bots.assistant.llm.stream import AnswerStream, Restarted, TextDelta
from errors.testing import stored_events
from resilience.registry import breaker_snapshots, dependencies_reset

from .assistant_support import KEY, KEY_ENV, config, key_in_environment, llm_servers, reports, router  # noqa: F401
from .llm_server import LLMServer, Reply

REQUEST = ChatRequest(messages=[{"role": "system", "content": "Be brief."},
                                {"role": "user", "content": "[Ann]: What is the capital of France?"}],
                      temperature=0.3, max_tokens=40)
ANSWER = "Paris is the capital of France. It is on the Seine."


@pytest.fixture(autouse=True)
def closed_breakers(key_in_environment: None) -> Iterator[None]:  # noqa: F811
    dependencies_reset()
    yield
    dependencies_reset()


async def collect(stream: AnswerStream) -> tuple[str, list[Restarted]]:
    text, restarts = "", []
    async for event in stream:
        if isinstance(event, Restarted):
            restarts.append(event)
            text = ""
        else:
            assert isinstance(event, TextDelta)
            text += event.text
    return text, restarts


async def test_the_answer_streams_from_the_first_provider_with_the_request_and_the_key(llm_servers) -> None:  # noqa: F811
    first = llm_servers()
    first.script(Reply(text=ANSWER))
    stream = router([(first, "first")]).stream(REQUEST)

    text, restarts = await collect(stream)

    assert (text, restarts, stream.provider, stream.fallback, stream.finish_reason) == (ANSWER, [], "first", False,
                                                                                          "stop")
    assert stream.first_token_at is not None and stream.started_at <= stream.first_token_at
    [request] = first.requests
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.body["stream"] is True and request.body["model"] == "test-model"
    assert request.body["messages"] == REQUEST.messages
    assert (request.body["temperature"], request.body["max_tokens"]) == (0.3, 40)
    assert "tools" not in request.body


async def test_without_the_key_variable_no_key_is_sent(llm_servers, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.delenv(KEY_ENV)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-must-not-be-used")
    first = llm_servers()
    first.script(Reply(text="Hi."))

    await collect(router([(first, "first")]).stream(REQUEST))

    assert "authorization" not in first.requests[0].headers


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (Reply(status=503), "HTTP 503 from 127.0.0.1"),
        (Reply(status=500), "HTTP 500 from 127.0.0.1"),
        (Reply(status=429), "HTTP 429 from 127.0.0.1"),
        (Reply(hang=True), "no first token within 0.4 s"),
        (Reply(text=ANSWER, first_token_delay=5), "no first token within 0.4 s"),
        (Reply(raw=b"data: {not json\n\n"), "answered garbage (a streamed chunk that is not JSON)"),
        (Reply(raw=b"<html>Bad gateway</html>", raw_content_type="text/html"), "answered garbage (not an event"),
        (Reply(raw=b"", raw_content_type="text/event-stream"), "ended its stream before any answer"),
        (Reply(events=('{"choices": "none"}',)), "answered garbage (a chunk without a list of choices)"),
        (Reply(events=('{"choices": [{"index": 0, "delta": {"content": 42}}]}',)), "the content is not text"),
        (Reply(events=('{"error": {"message": "model overloaded"}}',)), "sent an error in its stream"),
    ],
    ids=["503", "500", "429", "hang", "slow_first_token", "not_json", "html", "empty", "choices_not_a_list",
         "content_not_text", "error_event"],
)
async def test_a_failure_before_the_first_token_fails_over_to_the_next(llm_servers, reports, reply: Reply,  # noqa: F811
                                                                        reason: str) -> None:
    first, second = llm_servers(), llm_servers()
    first.script(reply)
    second.script(Reply(text=ANSWER))
    # A reply that fails by itself gets time to do so: on a busy machine a 429 once came after
    # 0.4 s, and the timeout was the failure reported.
    timeout = 0.4 if "no first token" in reason else 10.0
    stream = router([(first, "first"), (second, "second")], reports=reports, first_token_timeout=timeout).stream(
        REQUEST)

    text, restarts = await collect(stream)

    assert (text, restarts, stream.provider, stream.fallback, stream.tried) == (ANSWER, [], "second", True,
                                                                                  ["first", "second"])
    [failure] = stream.failures
    assert failure.provider == "first" and reason in failure.reason
    [error] = reports.errors
    assert isinstance(error, LLMProviderFailedError) and reason in error.reason and not error.permanent
    [event] = await stored_events(correlation_id=reports.correlation_ids[0])
    assert (event.group.code, event.group.category) == ("bot_provider_error", "bot")
    assert reason in event.context["reason"] and event.context["provider"] == "first"
    assert KEY not in str(event.context)
    assert second.requests[0].body["messages"] == REQUEST.messages


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (Reply(text=ANSWER, cut_after=3), "stopped before the end of its answer"),
        (Reply(text=ANSWER, stall_after=3), "stalled for 0.4 s in the middle of its answer"),
        (Reply(events=('{"choices": [{"index": 0, "delta": {"content": "Par"}}]}', "{garbage")),
         "a streamed chunk that is not JSON"),
    ],
    ids=["cut", "stall", "garbage"],
)
async def test_a_stream_that_breaks_before_anything_was_spoken_starts_over_on_the_next(
        llm_servers, reports, reply: Reply, reason: str) -> None:  # noqa: F811
    first, second = llm_servers(), llm_servers()
    first.script(reply)
    second.script(Reply(text="London is not."))
    stream = router([(first, "first"), (second, "second")], reports=reports, chunk_timeout=0.4).stream(REQUEST)

    text, restarts = await collect(stream)

    assert text == "London is not."
    assert [restart.provider for restart in restarts] == ["first"] and reason in restarts[0].reason
    assert stream.provider == "second" and stream.fallback
    assert reports.codes() == ["bot_provider_error"]


@pytest.mark.parametrize("reply", [Reply(text=ANSWER * 3, cut_after=12), Reply(text=ANSWER * 3, stall_after=12)],
                         ids=["cut", "stall"])
async def test_a_stream_that_breaks_after_the_answer_was_committed_ends_it_without_failover(
        llm_servers, reports, reply: Reply) -> None:  # noqa: F811
    first, second = llm_servers(), llm_servers()
    first.script(reply)
    stream = router([(first, "first"), (second, "second")], reports=reports, chunk_timeout=0.4).stream(REQUEST)

    received = ""
    with pytest.raises(LLMUnavailableError) as caught:
        async for event in stream:
            assert isinstance(event, TextDelta)
            received += event.text
            stream.commit()  # the first sentence went to text to speech

    assert caught.value.partial and [f.provider for f in caught.value.failures] == ["first"]
    assert received and ANSWER.startswith(received[:10])
    assert second.requests == []


async def test_a_4xx_takes_the_provider_out_of_use_until_its_key_changes(llm_servers, reports,  # noqa: F811
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = llm_servers(), llm_servers()
    first.script(Reply(status=401))
    second.script(Reply(text="One."), Reply(text="Two."))
    answers = router([(first, "first"), (second, "second")], reports=reports)

    assert (await collect(answers.stream(REQUEST)))[0] == "One."
    stream = answers.stream(REQUEST)
    assert (await collect(stream))[0] == "Two."

    assert len(first.requests) == 1, "a provider out of use gets no request"
    assert stream.tried == ["second"] and "HTTP 401" in stream.failures[0].reason
    assert "out of use until its settings change" in stream.failures[0].reason
    assert llm_dependency(provider_for(config(first, "first"))).state == "closed", "no breaker counts a 4xx"
    [error] = reports.errors
    assert isinstance(error, LLMProviderFailedError) and error.permanent
    health = {h.provider: h for h in answers.health().providers}
    assert health["first"].state == "unavailable" and "HTTP 401" in health["first"].reason
    assert health["second"].state == "closed" and answers.health().available

    monkeypatch.setenv(KEY_ENV, KEY + "-rotated")
    first.script(Reply(text="Back."))
    assert (await collect(answers.stream(REQUEST)))[0] == "Back."
    assert first.requests[-1].headers["authorization"] == f"Bearer {KEY}-rotated"


async def test_a_400_is_permanent_too_and_when_all_are_out_the_error_names_each(llm_servers, reports) -> None:  # noqa: F811
    first, second = llm_servers(), llm_servers()
    first.script(Reply(status=400))
    second.script(Reply(status=403))

    with pytest.raises(LLMUnavailableError) as caught:
        await collect(router([(first, "first"), (second, "second")], reports=reports).stream(REQUEST))

    error = caught.value
    assert (error.code, error.category, error.partial) == ("bot_unavailable", "bot", False)
    assert [(f.provider, f.reason.split(";")[0]) for f in error.failures] == [
        ("first", f"HTTP 400 from 127.0.0.1:{first.port}"), ("second", f"HTTP 403 from 127.0.0.1:{second.port}")]
    assert [p["provider"] for p in error.context["providers"]] == ["first", "second"]


@pytest.fixture
def breakers_open_for_a_second(settings) -> Iterator[None]:
    """Breakers that open after 2 failures in a row and let a trial through after 1 s."""
    settings.VOICEBOT_BREAKER_FAILURE_THRESHOLD = 2
    settings.VOICEBOT_BREAKER_RECOVERY_TIMEOUT = 1.0
    dependencies_reset()
    yield
    dependencies_reset()


async def test_all_providers_down_is_a_stored_bot_unavailable_and_the_probe_sees_the_recovery(
        llm_servers, reports, breakers_open_for_a_second) -> None:  # noqa: F811
    first, second = llm_servers(), llm_servers()
    answers = router([(first, "first"), (second, "second")], reports=reports, first_token_timeout=0.3)
    for _ in range(2):  # two failures in a row open each breaker
        first.script(Reply(status=503))
        second.script(Reply(status=500))
        with pytest.raises(LLMUnavailableError):
            await collect(answers.stream(REQUEST))
    states = {snapshot.name: snapshot.state for snapshot in breaker_snapshots()}
    assert (states["llm.first"], states["llm.second"]) == ("open", "open")

    with pytest.raises(LLMUnavailableError) as caught:
        await collect(answers.stream(REQUEST))
    assert all("circuit open" in failure.reason for failure in caught.value.failures)
    assert (len(first.requests), len(second.requests)) == (2, 2), "an open breaker lets nothing through"
    reports(caught.value)
    [event] = await stored_events(correlation_id=reports.correlation_ids[-1])
    assert (event.group.code, event.group.category) == ("bot_unavailable", "bot")
    assert [p["provider"] for p in event.context["providers"]] == ["first", "second"]
    assert not await answers.probe()

    await asyncio.sleep(1.05)  # the breakers let a trial through
    first.script(Reply(status=503))
    second.script(Reply(text="OK"))
    assert await answers.probe()
    assert second.requests[-1].body["stream"] is False and second.requests[-1].body["max_tokens"] == 1
    assert llm_dependency(provider_for(config(second, "second"))).state == "closed"
    second.script(Reply(text=ANSWER))
    assert (await collect(answers.stream(REQUEST)))[0] == ANSWER


async def test_a_retry_goes_to_the_same_provider_before_the_next_when_attempts_allow(llm_servers) -> None:  # noqa: F811
    first, second = llm_servers(), llm_servers()
    first.script(Reply(status=502), Reply(text="Second try."))
    stream = router([(first, "first"), (second, "second")], attempts=2).stream(REQUEST)

    assert (await collect(stream))[0] == "Second try."
    assert (len(first.requests), len(second.requests), stream.fallback) == (2, 0, False)


async def test_closing_the_stream_closes_the_response_at_the_provider(llm_servers) -> None:  # noqa: F811
    first = llm_servers()
    first.script(Reply(endless=True, piece_delay=0.005))
    stream = router([(first, "first")]).stream(REQUEST)

    received = 0
    async for _ in stream:
        received += 1
        if received == 10:
            break
    await stream.aclose()

    request = first.requests[0]
    assert await asyncio.to_thread(request.done.wait, 5), "the server's handler did not end"
    assert request.disconnected and not request.finished
    sent = request.chunks_sent
    await asyncio.sleep(0.2)
    assert request.chunks_sent == sent < 200


async def test_cancelling_the_task_that_reads_closes_the_response_too(llm_servers) -> None:  # noqa: F811
    first = llm_servers()
    first.script(Reply(endless=True, piece_delay=0.005))
    stream = router([(first, "first")]).stream(REQUEST)
    started = asyncio.Event()

    async def speak() -> None:
        async for _ in stream:
            started.set()

    task = asyncio.create_task(speak())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert await asyncio.to_thread(first.requests[0].done.wait, 5)
    assert first.requests[0].disconnected


async def test_tool_calls_are_put_together_from_their_streamed_pieces(llm_servers) -> None:  # noqa: F811
    first = llm_servers()
    first.script(Reply(text="Let me check.", tool_calls=(
        {"name": "who_is_here", "arguments": ""},
        {"name": "mute_me", "arguments": '{"participant": "Ann Lee"}', "id": "call_mute"},
    )))
    tools = [{"type": "function", "function": {"name": "who_is_here", "parameters": {"type": "object"}}}]
    stream = router([(first, "first")]).stream(ChatRequest(messages=REQUEST.messages, tools=tools))

    text, _ = await collect(stream)

    assert text == "Let me check." and stream.finish_reason == "tool_calls"
    assert [(c.id, c.name, c.arguments) for c in stream.tool_calls] == [
        ("call_0", "who_is_here", ""), ("call_mute", "mute_me", '{"participant": "Ann Lee"}')]
    assert first.requests[0].body["tools"] == tools


async def test_every_provider_is_a_named_dependency_with_its_breaker_listed(llm_servers) -> None:  # noqa: F811
    first = llm_servers()
    answers = router([(first, "listed")])

    [health] = answers.health().providers

    assert (health.provider, health.dependency, health.state) == ("listed", "llm.listed", "closed")
    assert "llm.listed" in {snapshot.name for snapshot in breaker_snapshots()}


async def test_a_profile_listing_says_in_words_why_its_providers_are_unavailable(llm_servers,  # noqa: F811
                                                                                breakers_open_for_a_second) -> None:
    first, second = llm_servers(), llm_servers()
    answers = router([(first, "first"), (second, "second")])
    assert answers.unavailable_reason() is None
    first.script(Reply(status=401))
    second.script(Reply(status=500), Reply(status=500))

    for _ in range(2):
        with pytest.raises(LLMUnavailableError):
            await collect(answers.stream(REQUEST))

    reason = answers.unavailable_reason()
    assert reason.startswith("Its language-model providers are unavailable (first: HTTP 401 from 127.0.0.1:")
    assert "out of use until its settings change; second: failing, tried again in" in reason
    assert router([]).unavailable_reason() == "It has no language-model provider."


def test_a_provider_used_from_another_event_loop_gets_a_client_of_its_own(llm_servers) -> None:  # noqa: F811
    first = llm_servers()
    answers = router([(first, "first")])

    for _ in range(2):  # each asyncio.run is a new loop; the first loop's connections are closed with it
        first.script(Reply(text="Hello there."))
        assert asyncio.run(collect(answers.stream(REQUEST)))[0] == "Hello there."
