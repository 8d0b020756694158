"""The tools a model may ask for: what runs, what is refused and why, and that nothing the model says crashes the bot."""
from __future__ import annotations

import json

import pytest

from bots.assistant.exceptions import ToolCallRefusedError
from bots.assistant.llm.messages import ToolCall
from bots.assistant.tools import TOOLS, ParticipantView, ToolSet, ToolTurn, UnknownToolError
from errors.testing import stored_events

from .assistant_support import LobbyHost, reports  # noqa: F401

BOT, ANN, BOB, CAROL = "bot0", "ann1", "bob2", "carol3"


@pytest.fixture
def host() -> LobbyHost:
    return LobbyHost([ParticipantView(BOT, "Jarvis", is_bot=True), ParticipantView(ANN, "Ann Lee"),
                      ParticipantView(BOB, "Bob"), ParticipantView(CAROL, "Carol", muted=True)])


# Bob asked; Ann and Carol are in the lobby but did not speak in this turn.
TURN = ToolTurn(BOT, {BOB: "Bob"})
EVERYTHING = ToolSet(TOOLS)


def call(name: str, arguments: object = "", *, raw: bool = False) -> ToolCall:
    return ToolCall(id="call_1", name=name, arguments=arguments if raw else
                    (json.dumps(arguments) if not isinstance(arguments, str) else arguments))


def test_only_the_tools_a_profile_allows_are_offered_with_their_schema() -> None:
    schemas = ToolSet(["mute_me", "who_is_here"]).schemas()

    assert [schema["function"]["name"] for schema in schemas] == ["who_is_here", "mute_me"]
    mute = schemas[1]["function"]["parameters"]
    assert mute["required"] == ["participant"] and mute["additionalProperties"] is False
    assert schemas[0]["function"]["parameters"] == {"additionalProperties": False, "properties": {},
                                                    "type": "object"}
    assert ToolSet([]).schemas() == []


def test_a_profile_naming_a_tool_that_does_not_exist_is_told_which() -> None:
    with pytest.raises(UnknownToolError, match="There is no tool 'shutdown'; the tools are who_is_here, mute_me, leave"):
        ToolSet(["who_is_here", "shutdown"])


async def test_who_is_here_lists_everyone_with_the_bot_marked(host: LobbyHost) -> None:
    outcome = await EVERYTHING.execute(call("who_is_here"), turn=TURN, host=host)

    assert outcome.ran and outcome.refused is None
    assert outcome.result["participants"][0] == {"name": "Jarvis", "is_bot": True, "muted": False, "is_you": True}
    assert [p["name"] for p in outcome.result["participants"]] == ["Jarvis", "Ann Lee", "Bob", "Carol"]
    assert json.loads(outcome.message()["content"]) == outcome.result
    assert outcome.message()["tool_call_id"] == "call_1"


@pytest.mark.parametrize("name", ["Bob", "bob", " BOB ", BOB])
async def test_mute_me_mutes_the_speaker_who_asked(host: LobbyHost, name: str) -> None:
    outcome = await EVERYTHING.execute(call("mute_me", {"participant": name}), turn=TURN, host=host)

    assert outcome.ran and host.muted == [BOB] and outcome.result == {"muted": "Bob"}


async def test_leave_leaves(host: LobbyHost) -> None:
    outcome = await EVERYTHING.execute(call("leave", "{}"), turn=TURN, host=host)

    assert outcome.ran and host.left


@pytest.mark.parametrize(
    ("tool_call", "allowed", "reason"),
    [
        (call("shutdown_server"), TOOLS, "there is no such tool"),
        (call("leave"), ["who_is_here", "mute_me"], "this bot's profile does not allow it"),
        (call("mute_me", {"participant": "Ann Lee"}), TOOLS, "a participant the bot did not hear ask"),
        (call("mute_me", {"participant": "Dave"}), TOOLS, "a participant the bot did not hear ask"),
        (call("mute_me", {"participant": "Jarvis"}), TOOLS, "a participant the bot did not hear ask"),
        (call("mute_me", "{\"participant\": "), TOOLS, "not a JSON object"),
        (call("mute_me", "[\"Bob\"]"), TOOLS, "not a JSON object"),
        (call("mute_me", {"participant": "Bob", "also": "Ann"}), TOOLS, "do not fit the tool (also)"),
        (call("mute_me", {}), TOOLS, "do not fit the tool (participant)"),
        (call("mute_me", {"participant": 7}), TOOLS, "do not fit the tool (participant)"),
        (call("mute_me", {"participant": "x" * 65}), TOOLS, "do not fit the tool (participant)"),
        (call("mute_me", '{"participant": "\\ud800Bob\\u0000"}'), TOOLS, "do not fit the tool (participant)"),
        (call("leave", {"now": True}), TOOLS, "do not fit the tool (now)"),
        (ToolCall("call_1", "mute_me", '{"participant": "Bob"', truncated=True), TOOLS, "too long"),
        (call(""), TOOLS, "there is no such tool"),
    ],
    ids=["unknown", "not_allowed", "someone_who_did_not_speak", "someone_not_here", "the_bot", "broken_json",
         "json_array", "extra_argument", "missing_argument", "wrong_type", "too_long_a_name", "surrogate_and_nul",
         "arguments_to_a_tool_without", "truncated", "no_name"],
)
async def test_a_call_that_fails_a_check_is_refused_and_nothing_runs(host: LobbyHost, tool_call: ToolCall,
                                                                    allowed: list[str], reason: str) -> None:
    outcome = await ToolSet(allowed).execute(tool_call, turn=TURN, host=host, provider="local")

    assert not outcome.ran and host.muted == [] and not host.left
    assert isinstance(outcome.refused, ToolCallRefusedError) and reason in outcome.refused.reason
    assert outcome.result == {"error": f"refused: {outcome.refused.reason}"}
    assert outcome.refused.context["provider"] == "local" and outcome.refused.context["speaker_session_id"] == BOB


async def test_someone_who_spoke_but_left_cannot_be_muted(host: LobbyHost) -> None:
    host.people = [person for person in host.people if person.session_id != BOB]

    outcome = await EVERYTHING.execute(call("mute_me", {"participant": "Bob"}), turn=TURN, host=host)

    assert outcome.refused is not None and "not in the lobby" in outcome.refused.reason


async def test_a_host_that_fails_is_a_failed_action_not_a_crash(host: LobbyHost) -> None:
    host.fail = True

    outcome = await EVERYTHING.execute(call("leave"), turn=TURN, host=host)

    assert not outcome.ran and isinstance(outcome.failed, ConnectionResetError)
    assert outcome.result == {"error": "the action failed"}


async def test_a_refusal_is_stored_as_a_bot_error(host: LobbyHost, reports) -> None:  # noqa: F811
    outcome = await ToolSet(["who_is_here"]).execute(call("leave"), turn=TURN, host=host, provider="local")
    assert outcome.refused is not None

    reports(outcome.refused)

    [event] = await stored_events(correlation_id=reports.correlation_ids[0])
    assert (event.group.code, event.group.category, event.group.severity) == ("bot_tool_refused", "bot", "low")
    assert event.context["tool"] == "leave" and "does not allow" in event.context["reason"]
