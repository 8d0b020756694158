"""Process-local delivery of relays: a socket's inbox beside its channel-layer channel.

A relay between two sockets of the same server process needs no channel
layer: the sender puts the message straight into the receiver's inbox, which
the receiving consumer reads in the same loop as its channel-layer messages
(``Inbox.receive``, or, when the layer delivers into the inbox, straight into
the consumer's mailbox: ``Inbox.attach``); when nothing waits
in the inbox and the receiving loop is between messages, the receiver takes
the relay in the sender's call instead (``Inbox.put_relay``). Only a relay to a
socket of another process goes through the (guarded) channel layer. The
project's layers (in memory, and Redis with its one reader per process)
deliver into the inboxes themselves, and such an inbox puts each message
straight into its consumer's mailbox: an idle socket has no layer queue and
no task waiting on its channel.

Messages reach a consumer one at a time, in the order each source delivers
them; the two sources are not ordered with each other. The consumer restores
the order that matters (a relay from a peer only after that peer's
``participant_joined``) by holding a relay until it knows its sender (see
``LobbyConsumer.peer_relay``).
"""
from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from channels.exceptions import ChannelFull

from resilience.channel_layer import layer_unavailable
from signaling.dispatch import Mailbox
from voicebot_site.settings_snapshot import SettingsSnapshot

logger = logging.getLogger("voicebot.signaling")

# The type of a relay's message (LobbyConsumer.relay): one an inbox may hand to its owner at once.
RELAY = "peer.relay"

# VOICEBOT_CHANNEL_CAPACITY: messages an inbox holds before a send to it is ChannelFull.
INBOX_SETTINGS = SettingsSnapshot(capacity="VOICEBOT_CHANNEL_CAPACITY")

# channel name -> the inbox of the socket of this process that owns it
_inboxes: dict[str, Inbox] = {}


class Inbox:
    """One consumer's messages: those put here by this process, then the channel layer's."""

    __slots__ = ("channel", "loop", "_local", "_layer_receive", "_layer_task", "_waiter", "_closed", "_dropping",
                 "direct", "_box")

    def __init__(
        self, channel: str, layer_receive: Callable[[], Awaitable[dict[str, Any]]] | None
    ) -> None:
        """``layer_receive`` is None when the channel layer delivers into this inbox itself (in memory)."""
        self.channel = channel
        self.loop = asyncio.get_running_loop()
        # Made at the first local relay: an empty deque already takes a 64-slot block.
        self._local: deque[dict[str, Any]] | None = None
        self._layer_receive = layer_receive
        self._layer_task: asyncio.Future[dict[str, Any]] | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False
        self._dropping = False
        # The owner's way to take a relay at once (see put_relay); True when it did.
        self.direct: Callable[[dict[str, Any]], bool] | None = None
        # The owner's mailbox, when messages go straight into it (see attach).
        self._box: Mailbox | None = None
        _inboxes[channel] = self

    def attach(self, box: Mailbox) -> None:
        """Deliver into the owner's message loop (``box``) directly: no pump task reads this inbox.

        Only for an inbox the channel layer delivers into (no layer receive).
        """
        if self._layer_receive is not None:
            raise ValueError("an inbox that reads its channel layer needs its pump")
        self._box = box

    def put(self, message: dict[str, Any]) -> None:
        """Queue ``message`` for this socket (from the same event loop)."""
        try:
            self.deliver(message)
        except ChannelFull as exc:
            raise layer_unavailable(exc) from None

    def put_relay(self, message: dict[str, Any]) -> None:
        """A relay from a socket of this process (``deliver_relay``); a full inbox is the sender's typed error."""
        try:
            self.deliver_relay(message)
        except ChannelFull as exc:
            raise layer_unavailable(exc) from None

    def deliver_relay(self, message: dict[str, Any]) -> None:
        """A relay, handed to the owner at once when nothing waits before it; a full inbox is ChannelFull.

        With nothing queued here (no local message, no layer message taken
        and not yet read) the owner may take the relay in the caller's call
        (``direct``): no trip through its message loop. Otherwise, or when it
        declines, the relay waits in line like any message, so that the
        owner sees its messages in the order they came.
        """
        direct = self.direct
        task = self._layer_task
        if direct is not None and not self._local and (task is None or not task.done()) and direct(message):
            return
        self.deliver(message)

    def deliver(self, message: dict[str, Any]) -> None:
        """``put`` as a channel layer's send does it: a full inbox is ChannelFull."""
        if self._dropping:
            return
        box = self._box
        if box is not None:
            if box.others >= INBOX_SETTINGS.capacity:
                raise ChannelFull(self.channel)
            box.push(message)
            return
        if self._local is None:
            self._local = deque()
        elif len(self._local) >= INBOX_SETTINGS.capacity:
            raise ChannelFull(self.channel)
        self._local.append(message)
        self._wake()

    def _wake(self, _: object = None) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def receive(self) -> dict[str, Any]:
        """The next message for this socket, local or from the channel layer."""
        while True:
            if self._local:
                return self._local.popleft()
            task = self._layer_task
            if task is None and self._layer_receive is not None:
                # One receive from the layer stays pending across calls: a
                # cancelled channels-redis receive would drop its buffer.
                task = self._layer_task = asyncio.ensure_future(self._layer_receive())
                task.add_done_callback(self._wake)
            if task is not None and task.done():
                self._layer_task = None
                return task.result()
            self._waiter = self.loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    def drop_all(self) -> None:
        """The socket is being closed: what is delivered from now on is dropped, its senders not refused."""
        self._dropping = True
        self._local = None
        self._box = None

    def close(self) -> None:
        """The socket is gone: no more deliveries; its pending layer receive is cancelled."""
        if self._closed:
            return
        self._closed = True
        self.direct = None
        self._box = None
        if _inboxes.get(self.channel) is self:
            del _inboxes[self.channel]
        if self._layer_task is not None:
            self._layer_task.cancel()
            self._layer_task = None
        self._local = None


def inboxes_deliver_all(message: dict[str, Any]) -> None:
    """``message`` to every socket of this process on this event loop (one with a full inbox is skipped, and logged)."""
    loop = asyncio.get_running_loop()
    for inbox in list(_inboxes.values()):
        if inbox.loop is loop:
            try:
                inbox.deliver(message)
            except ChannelFull:
                logger.warning("socket %s has a full inbox: it is not told %s", inbox.channel, message["type"])


def inbox_local(channel: str) -> Inbox | None:
    """The inbox of ``channel`` if a socket of this process, on this event loop, owns it."""
    inbox = _inboxes.get(channel)
    if inbox is None or inbox.loop is not asyncio.get_running_loop():
        return None
    return inbox
