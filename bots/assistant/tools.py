"""The actions a language model may ask the assistant for, each checked before it runs.

``TOOLS`` is the registry: ``who_is_here`` (who is in the lobby),
``mute_me`` (mute the person who asked) and ``leave`` (the bot leaves). A
profile allows a subset (``ToolSet``); only those are offered to the model.
Whatever the model asks, a call runs only when every check passes, in this
order, and is otherwise refused with a ``ToolCallRefusedError`` (stored as a
``bot`` error, and answered to the model as a refusal so it can say so):

1. the tool exists;
2. the profile allows it (a model can name a tool it was never offered, e.g.
   after a prompt injection in a transcript);
3. its arguments are a JSON object of the tool's shape (pydantic, extra
   fields forbidden) and were not cut short;
4. it acts only for someone the bot heard: ``mute_me`` names the person it
   mutes, who must be one of the speakers whose words this answer answers
   (``ToolTurn.speakers``) and still in the lobby. Text in a transcript can
   make a model name anyone; it cannot make the bot act for someone who did
   not speak.

The bot's side of each action is a ``ToolHost`` the platform provides: its
view of the lobby, muting a participant, leaving. A host that fails is a
failed action (reported, answered to the model as a failure), never a crash.
"""
from __future__ import annotations

import json
import logging
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as ArgumentsError

from bots.assistant.exceptions import ToolCallRefusedError
from bots.assistant.llm.messages import ToolCall

logger = logging.getLogger("voicebot.bots.assistant")


@dataclass(frozen=True, slots=True)
class ParticipantView:
    session_id: str
    name: str
    is_bot: bool = False
    muted: bool = False


class ToolHost(Protocol):
    """What the bot can do in its lobby (the platform's side of the tools)."""

    def participants(self) -> Sequence[ParticipantView]:
        """Everyone in the lobby as the bot last saw them, the bot itself included."""
        ...

    async def mute(self, session_id: str) -> None:
        """Mute that participant's microphone for the lobby."""
        ...

    async def leave(self) -> None:
        """Leave the lobby once what the bot is saying has been played."""
        ...


@dataclass(frozen=True, slots=True)
class ToolTurn:
    """Whom an answer answers: the speakers it heard (session id -> name) since it last answered."""

    bot_session_id: str
    speakers: Mapping[str, str] = field(default_factory=dict)

    def speaker_named(self, name_or_id: str) -> str | None:
        """The session id of the speaker with that name (ignoring case) or id, or None."""
        if name_or_id in self.speakers:
            return name_or_id
        wanted = _folded(name_or_id)
        for session_id, name in self.speakers.items():
            if _folded(name) == wanted:
                return session_id
        return None


def _folded(name: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


class NoArguments(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MuteMeArguments(BaseModel):
    model_config = ConfigDict(extra="forbid")
    participant: str = Field(min_length=1, max_length=64, description=(
        "The name of the person who asked to be muted, exactly as written before their words."))


class Tool:
    name: ClassVar[str]
    description: ClassVar[str]
    arguments: ClassVar[type[BaseModel]] = NoArguments

    def schema(self) -> dict[str, Any]:
        """The tool as the ``tools`` entry of a chat completion request."""
        parameters = self.arguments.model_json_schema()
        parameters.pop("title", None)
        parameters.setdefault("properties", {})
        return {"type": "function", "function": {"name": self.name, "description": self.description,
                                                 "parameters": parameters}}

    def refusal(self, arguments: BaseModel, turn: ToolTurn, host: ToolHost) -> str | None:
        """Why this call must not run (who it acts for), or None."""
        return None

    async def run(self, arguments: BaseModel, turn: ToolTurn, host: ToolHost) -> dict[str, Any]:
        raise NotImplementedError


class WhoIsHere(Tool):
    name = "who_is_here"
    description = "Lists the people (and bots) in this voice lobby right now."

    async def run(self, arguments: BaseModel, turn: ToolTurn, host: ToolHost) -> dict[str, Any]:
        people = [
            {"name": person.name, "is_bot": person.is_bot, "muted": person.muted,
             "is_you": person.session_id == turn.bot_session_id}
            for person in host.participants()
        ]
        return {"participants": people}


class MuteMe(Tool):
    name = "mute_me"
    description = "Mutes the microphone of the person who asks you to mute them. Only for that person."
    arguments = MuteMeArguments

    def _target(self, arguments: BaseModel, turn: ToolTurn) -> str | None:
        assert isinstance(arguments, MuteMeArguments)
        return turn.speaker_named(arguments.participant)

    def refusal(self, arguments: BaseModel, turn: ToolTurn, host: ToolHost) -> str | None:
        target = self._target(arguments, turn)
        if target is None:
            return "it would act for a participant the bot did not hear ask"
        if target == turn.bot_session_id or target not in {person.session_id for person in host.participants()}:
            return "that participant is not in the lobby"
        return None

    async def run(self, arguments: BaseModel, turn: ToolTurn, host: ToolHost) -> dict[str, Any]:
        target = self._target(arguments, turn)
        assert target is not None
        await host.mute(target)
        return {"muted": turn.speakers[target]}


class Leave(Tool):
    name = "leave"
    description = "You leave the voice lobby, after what you are saying now. Only when someone asks you to leave."

    async def run(self, arguments: BaseModel, turn: ToolTurn, host: ToolHost) -> dict[str, Any]:
        await host.leave()
        return {"leaving": True}


TOOLS: dict[str, Tool] = {tool.name: tool for tool in (WhoIsHere(), MuteMe(), Leave())}


class UnknownToolError(ValueError):
    """A profile allows a tool the registry does not have; the message names it and the known ones."""


@dataclass(frozen=True, slots=True)
class ToolOutcome:
    """What became of one call: the result answered to the model, and a refusal or failure to report."""

    call: ToolCall
    result: dict[str, Any]
    refused: ToolCallRefusedError | None = None
    failed: BaseException | None = None
    ran: bool = False

    def message(self) -> dict[str, Any]:
        """The ``tool`` message that gives the model this outcome."""
        return {"role": "tool", "tool_call_id": self.call.id, "content": json.dumps(self.result)}


class ToolSet:
    """The tools one profile allows, in the registry's order."""

    def __init__(self, allowed: Iterable[str]) -> None:
        allowed = list(allowed)
        unknown = [name for name in allowed if name not in TOOLS]
        if unknown:
            raise UnknownToolError(f"There is no tool {', '.join(map(repr, unknown))[:120]}; "
                                   f"the tools are {', '.join(TOOLS)}.")
        self.allowed = frozenset(allowed)
        self.tools = [tool for name, tool in TOOLS.items() if name in self.allowed]

    def schemas(self) -> list[dict[str, Any]]:
        return [tool.schema() for tool in self.tools]

    async def execute(self, call: ToolCall, *, turn: ToolTurn, host: ToolHost,
                      provider: str | None = None) -> ToolOutcome:
        """Run ``call`` if every check passes; otherwise refuse it. Never raises for the model's mistakes."""
        tool = TOOLS.get(call.name)
        reason: str | None = None
        arguments: BaseModel | None = None
        if tool is None:
            reason = "there is no such tool"
        elif call.name not in self.allowed:
            reason = "this bot's profile does not allow it"
        elif call.truncated:
            reason = "its arguments are too long"
        else:
            parsed = _arguments_parse(call.arguments)
            if parsed is None:
                reason = "its arguments are not a JSON object"
            else:
                try:
                    arguments = tool.arguments.model_validate(parsed)
                except ArgumentsError as exc:
                    fields = ", ".join(sorted({".".join(map(str, error["loc"])) or "arguments"
                                               for error in exc.errors()}))
                    reason = f"its arguments do not fit the tool ({fields[:100]})"
                else:
                    reason = tool.refusal(arguments, turn, host)
        if reason is not None or tool is None or arguments is None:
            refused = ToolCallRefusedError(tool=call.name, reason=reason or "refused", provider=provider,
                                           speaker_session_id=next(iter(turn.speakers), None))
            return ToolOutcome(call, {"error": f"refused: {refused.reason}"}, refused=refused)
        try:
            result = await tool.run(arguments, turn, host)
        except Exception as exc:  # noqa: BLE001 - the host's failure is the action's, never the bot's
            logger.warning("tool %s failed", call.name, exc_info=True)
            return ToolOutcome(call, {"error": "the action failed"}, failed=exc)
        return ToolOutcome(call, result, ran=True)


def _arguments_parse(arguments: str) -> dict[str, Any] | None:
    """The arguments of a call as a JSON object ("" is none), or None when they are not one."""
    if not arguments.strip():
        return {}
    try:
        value = json.loads(arguments)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
