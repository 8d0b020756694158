"""Real-time events: what services emit, sent after their transaction commits.

Services return a list of ``Event``s instead of sending them, so that nothing
is broadcast for a change that rolled back: async callers ``await emit(...)``
once the service returned; sync callers (the admin) use ``emit_on_commit``.
The consumer handles each event type in the method named after it
(``lobby.participant_joined`` -> ``lobby_participant_joined``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from asgiref.sync import async_to_sync
from django.db import transaction

from resilience.channel_layer import channel_layer


def lobby_group(lobby_id: str) -> str:
    return f"lobby.{lobby_id}"


def session_group(session_id: str) -> str:
    return f"session.{session_id}"


@dataclass(frozen=True, slots=True)
class Event:
    message: dict[str, Any]
    # Exactly one of group and channel.
    group: str | None = None
    channel: str | None = None
    # Channel names to drop from ``group`` before sending (sockets that are gone),
    # and the other groups they leave with it (their session's).
    discard: tuple[str, ...] = ()
    discard_from: tuple[str, ...] = ()


def participant_joined(lobby_id: str, participant: dict[str, Any], *, channel: str, epoch: str) -> Event:
    return Event(
        group=lobby_group(lobby_id),
        message={"type": "lobby.participant_joined", "lobby_id": lobby_id, "participant": participant,
                 "channel": channel, "epoch": epoch},
    )


def participant_resumed(lobby_id: str, participant: dict[str, Any], *, channel: str, epoch: str) -> Event:
    return Event(
        group=lobby_group(lobby_id),
        message={"type": "lobby.participant_resumed", "lobby_id": lobby_id, "participant": participant,
                 "channel": channel, "epoch": epoch},
    )


def participant_updated(
    lobby_id: str, participant: dict[str, Any], *, epoch: str, discard: tuple[str, ...] = ()
) -> Event:
    """``epoch`` is the participant's join the change belongs to: a receiver that
    already knows a later join (a resume) drops it as stale."""
    return Event(
        group=lobby_group(lobby_id),
        message={"type": "lobby.participant_updated", "lobby_id": lobby_id, "participant": participant,
                 "epoch": epoch},
        discard=discard,
        discard_from=(session_group(participant["session_id"]),) if discard else (),
    )


def participant_left(
    lobby_id: str, session_id: str, *, reason: str, epoch: str, discard: tuple[str, ...] = ()
) -> Event:
    """``epoch`` is the join that ended: a socket of the same session that has joined
    again since (a later epoch) is not affected."""
    return Event(
        group=lobby_group(lobby_id),
        message={"type": "lobby.participant_left", "lobby_id": lobby_id, "session_id": session_id,
                 "reason": reason, "epoch": epoch},
        discard=discard,
        # A socket that left on purpose stays open, in its session's group.
        discard_from=(session_group(session_id),) if discard and reason in ("disconnected", "timeout") else (),
    )


def participant_kicked(lobby_id: str, channel: str) -> Event:
    return Event(channel=channel, message={"type": "participant.kicked", "lobby_id": lobby_id})


def participant_removed(lobby_id: str, channel: str, *, session_id: str, epoch: str, reason: str) -> Event:
    """To the socket whose place someone else took away (a removed bot): it is told, and stays open."""
    return Event(channel=channel, message={"type": "participant.removed", "lobby_id": lobby_id,
                                           "session_id": session_id, "epoch": epoch, "reason": reason})


def chat_posted(lobby_id: str, chat: dict[str, Any], *, sender_channel: str = "", frame_id: str | None = None) -> Event:
    """``sender_channel`` and ``frame_id`` let the sender's copy answer its frame (``in_reply_to``)."""
    return Event(
        group=lobby_group(lobby_id),
        message={"type": "lobby.chat", "lobby_id": lobby_id, "chat": chat, "sender_channel": sender_channel,
                 "frame_id": frame_id},
    )


def lobby_updated(lobby_id: str, lobby: dict[str, Any]) -> Event:
    return Event(group=lobby_group(lobby_id), message={"type": "lobby.updated", "lobby_id": lobby_id, "lobby": lobby})


def lobby_closed(lobby_id: str) -> Event:
    return Event(group=lobby_group(lobby_id), message={"type": "lobby.closed", "lobby_id": lobby_id})


def lobby_closed_to(lobby_id: str, channel: str) -> Event:
    """The lobby closed, told to one socket outside its group (one waiting for a seat)."""
    return Event(channel=channel, message={"type": "lobby.closed", "lobby_id": lobby_id})


def seat_available(lobby_id: str, channel: str) -> Event:
    """A seat is free for the waiting socket ``channel``: it may join now."""
    return Event(channel=channel, message={"type": "seat.available", "lobby_id": lobby_id})


def seat_position(lobby_id: str, channel: str, *, position: int) -> Event:
    """The waiting socket ``channel`` moved up the lobby's queue."""
    return Event(channel=channel, message={"type": "seat.position", "lobby_id": lobby_id, "position": position})


async def emit(events: list[Event]) -> None:
    layer = channel_layer()
    for event in events:
        for channel in event.discard:
            for group in (event.group, *event.discard_from):
                if group is not None:
                    await layer.group_discard(group, channel)
        if event.group is not None:
            await layer.group_send(event.group, event.message)
        elif event.channel:
            await layer.send(event.channel, event.message)


def emit_on_commit(events: list[Event]) -> None:
    """From sync code: send ``events`` once the current transaction commits."""
    if events:
        transaction.on_commit(lambda: async_to_sync(emit)(events))
