"""Every kind of bot the protocol knows, and the class that runs each one built here.

A kind is built by writing a ``BotBehaviour`` subclass (bots.kinds.base) and
naming it in ``KINDS``; a kind whose ``behaviour`` is None is listed by
``GET /api/bots`` as unavailable, with ``NOT_BUILT`` as its reason.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from django.utils.module_loading import import_string

from bots.models import BotKind

if TYPE_CHECKING:
    from bots.kinds.base import BotBehaviour

NOT_BUILT = "This kind of bot is not available on this server yet."


@dataclass(frozen=True)
class KindEntry:
    kind: str
    description: str
    # The default display name of a bot of this kind without a profile.
    default_name: str
    # Dotted path of its BotBehaviour subclass, or None while it is not built.
    behaviour: str | None


KINDS: dict[str, KindEntry] = {
    entry.kind: entry
    for entry in (
        KindEntry(BotKind.ECHO, "Plays back what you say, to you alone, a moment later: a microphone check.",
                  "Echo", "bots.kinds.echo.EchoBot"),
        KindEntry(BotKind.ANNOUNCER, "Reads chat messages aloud and says who joins and leaves.",
                  "Announcer", "bots.kinds.announcer.AnnouncerBot"),
        KindEntry(BotKind.CAPTIONER, "Writes down what each person says, as transcripts in the chat.",
                  "Captioner", "bots.kinds.captioner.CaptionerBot"),
        KindEntry(BotKind.ASSISTANT, "Listens to everyone and answers by voice.", "Assistant",
                  "bots.kinds.assistant.AssistantBot"),
    )
}


@cache
def behaviour_class(kind: str) -> type[BotBehaviour] | None:
    """The class that runs ``kind``, or None when it is unknown or not built."""
    entry = KINDS.get(kind)
    if entry is None or entry.behaviour is None:
        return None
    return import_string(entry.behaviour)


def kind_unavailable_reason(kind: str) -> str | None:
    """Why this process cannot run ``kind`` (in words), or None when it can."""
    behaviour = behaviour_class(kind)
    if behaviour is None:
        return NOT_BUILT
    return behaviour.unavailable_reason()
