"""A socket's view of its lobby, and the lobby events that keep it current.

``LobbyEventsMixin`` holds the roster (the other participants, their channels,
status and join epoch) and handles every event the channel layer brings a
lobby socket: joins, resumes, updates, departures, chat, kicks, closes, the
relays of its peers, and news of a free seat for a socket waiting for one. It
needs no database: the roster is what the relay path checks. Mixed into
``signaling.consumers.LobbyConsumer``.
"""
from __future__ import annotations

import logging
import sys
from collections import deque
from dataclasses import dataclass
from typing import Any

from errors.exceptions import SessionReplacedError
from lobbies.events import lobby_group
from lobbies.exceptions import KickedError, LobbyNotFoundError
from lobbies.models import Participant

CONNECTED = Participant.Status.CONNECTED.value
RECONNECTING = Participant.Status.RECONNECTING.value
# The statuses as one string object each (a row's status is a new string per read).
_STATUSES = {status.value: status.value for status in Participant.Status}
# Relays one socket holds while their senders' events are on their way.
HELD_RELAYS_MAX = 256

logger = logging.getLogger("voicebot.signaling")


@dataclass(slots=True)
class Peer:
    """Another participant of this socket's lobby, as this socket knows it."""

    channel: str
    status: str
    epoch: str


def peer_entry(session_id: str, channel: str, status: str, epoch: str) -> tuple[str, Peer]:
    """A roster's entry for a peer, its strings shared with every other socket that knows it.

    Each socket of a lobby knows the same peers, and read its own copy of
    their ids, channels and epochs (from the database when it joined, or from
    the channel layer's event): about 1 KB per idle socket in lobbies of 8.
    Interned, the sockets of a process share one copy of each (Python frees
    an interned string once nothing holds it).
    """
    peer = Peer(channel=sys.intern(channel), status=_STATUSES.get(status, status), epoch=sys.intern(epoch))
    return sys.intern(session_id), peer


class LobbyEventsMixin:
    """The roster and the lobby's events; the consumer provides the socket and identity."""

    session_id: str
    lobby_id: str
    epoch: str
    joined: bool
    layer: Any
    channel_name: str
    # The consumer also provides send() (the socket) and send_frame() (JSON).

    def roster_clear(self) -> None:
        """This socket is not (or no longer) in its lobby."""
        self.joined = False
        self.roster: dict[str, Peer] = {}
        # sender -> relays (epoch, text) waiting for that sender's event
        self.held: dict[str, deque[tuple[str, str]]] = {}
        self.held_count = 0

    def held_drop(self, peer_id: str) -> None:
        dropped = self.held.pop(peer_id, None)
        if dropped:
            self.held_count -= len(dropped)

    async def held_release(self, peer_id: str, epoch: str) -> None:
        """Forward the relays ``peer_id`` sent from the socket of ``epoch`` before this socket knew it."""
        held = self.held.pop(peer_id, None)
        if not held:
            return
        self.held_count -= len(held)
        for held_epoch, text in held:
            if held_epoch == epoch:
                await self.send(text_data=text)

    # --- Events from the channel layer --------------------------------

    async def peer_relay(self, event: dict[str, Any]) -> None:
        if not self.joined or event["lobby_id"] != self.lobby_id:
            return
        sender, epoch = event["sender"], event["epoch"]
        peer = self.roster.get(sender)
        if peer is not None and peer.epoch == epoch:
            if peer.status == CONNECTED:
                await self.send(text_data=event["text"])
            return
        # The sender's participant_joined (or _resumed) is still on its way
        # through the channel layer: the client must see it first.
        if self.held_count >= HELD_RELAYS_MAX:
            logger.warning("socket %s holds %d relays of unknown senders; one is dropped",
                           self.channel_name, self.held_count)
            return
        self.held.setdefault(sender, deque()).append((epoch, event["text"]))
        self.held_count += 1

    async def session_replaced(self, event: dict[str, Any]) -> None:
        if event["channel"] != self.channel_name:
            raise SessionReplacedError()

    async def participant_kicked(self, event: dict[str, Any]) -> None:
        if event["lobby_id"] == self.lobby_id:
            self.roster_clear()
            await self.layer.group_discard(lobby_group(self.lobby_id), self.channel_name)
            raise KickedError()

    async def lobby_updated(self, event: dict[str, Any]) -> None:
        if self.joined:
            await self.send_frame({"type": "lobby_updated", "lobby": event["lobby"]})
    async def participant_removed(self, event: dict[str, Any]) -> None:
        """Someone else took this socket's place away (a bot removed from its lobby); the socket stays open."""
        if not self.joined or event["lobby_id"] != self.lobby_id or event["epoch"] != self.epoch:
            return
        self.roster_clear()
        await self.layer.group_discard(lobby_group(self.lobby_id), self.channel_name)
        await self.send_frame({"type": "participant_left", "session_id": self.session_id, "reason": event["reason"]})

    async def lobby_closed(self, event: dict[str, Any]) -> None:
        self.roster_clear()
        raise LobbyNotFoundError("This lobby has been closed.")

    def roster_admit(self, event: dict[str, Any]) -> str | None:
        """Record a peer's new join (or resume); its id, or None when there is nothing new to say."""
        peer_id = event["participant"]["session_id"]
        if not self.joined or peer_id == self.session_id:
            return None
        known = self.roster.get(peer_id)
        if known is not None and known.epoch == event["epoch"]:
            return None  # already in the roster this socket read when it joined
        peer_id, self.roster[peer_id] = peer_entry(peer_id, event["channel"], CONNECTED, event["epoch"])
        return peer_id

    async def lobby_participant_joined(self, event: dict[str, Any]) -> None:
        peer_id = self.roster_admit(event)
        if peer_id is None:
            return
        await self.send_frame({"type": "participant_joined", "participant": event["participant"]})
        await self.send_frame({"type": "add_peer", "peer_id": peer_id, "should_create_offer": False, "polite": True})
        await self.held_release(peer_id, event["epoch"])

    async def lobby_participant_resumed(self, event: dict[str, Any]) -> None:
        peer_id = self.roster_admit(event)
        if peer_id is None:
            return
        # Media is negotiated afresh: the others drop the old connection first.
        await self.send_frame({"type": "participant_updated", "participant": event["participant"]})
        await self.send_frame({"type": "remove_peer", "peer_id": peer_id})
        await self.send_frame({"type": "add_peer", "peer_id": peer_id, "should_create_offer": False, "polite": True})
        await self.held_release(peer_id, event["epoch"])

    async def lobby_participant_updated(self, event: dict[str, Any]) -> None:
        if not self.joined:
            return
        participant = event["participant"]
        peer_id = participant["session_id"]
        peer = self.roster.get(peer_id)
        # A change that belongs to an earlier join of the participant (e.g. a
        # sweep that saw it gone just before it resumed) is stale: drop it.
        if peer_id == self.session_id:
            if event["epoch"] != self.epoch:
                return
        elif peer is not None:
            if event["epoch"] != peer.epoch:
                return
            peer.status = participant["status"]
            if peer.status == RECONNECTING:
                peer.channel = ""
        await self.send_frame({"type": "participant_updated", "participant": participant})

    async def lobby_participant_left(self, event: dict[str, Any]) -> None:
        if not self.joined:
            return
        peer_id = event["session_id"]
        if peer_id == self.session_id:
            if event["epoch"] != self.epoch:
                return  # an earlier join of this session ended; this one stands
            # This socket's place was taken from it (timed out while the
            # server thought it gone): it must join again.
            self.roster_clear()
            await self.layer.group_discard(lobby_group(self.lobby_id), self.channel_name)
        else:
            peer = self.roster.get(peer_id)
            if peer is not None and peer.epoch != event["epoch"]:
                return  # the peer's earlier join ended; it is back already
            self.held_drop(peer_id)
            if self.roster.pop(peer_id, None) is not None:
                await self.send_frame({"type": "remove_peer", "peer_id": peer_id})
        await self.send_frame({"type": "participant_left", "session_id": peer_id, "reason": event["reason"]})

    async def lobby_chat(self, event: dict[str, Any]) -> None:
        if self.joined:
            frame = {"type": "chat", **event["chat"]}
            if event.get("frame_id") is not None and event.get("sender_channel") == self.channel_name:
                # The sender's copy answers its chat frame.
                frame["in_reply_to"] = event["frame_id"]
            await self.send_frame(frame)

    # --- Waiting for a seat (lobbies.seats) ---------------------------------

    async def seat_available(self, event: dict[str, Any]) -> None:
        if not self.joined and event["lobby_id"] == self.lobby_id:
            await self.send_frame({"type": "seat_available"})

    async def seat_position(self, event: dict[str, Any]) -> None:
        if not self.joined and event["lobby_id"] == self.lobby_id:
            await self.send_frame({"type": "waiting_for_seat", "position": event["position"]})
