"""What signaling does when other parts of the process report: another process took this one for dead.

``lobbies.presence`` sends ``presence_lost`` when this process's heartbeat
finds its row gone: another process's sweep took it for dead and gave the
places of its sockets the grace period. Every lobby socket of this process
is then told (``presence.lost``, through its inbox) and closes with
``internal_error`` and 4011, recovery ``reconnect``: its client reconnects
with the same token and resumes its place within the grace period.
"""
from __future__ import annotations

from typing import Any

from lobbies.presence import presence_lost
from signaling.inbox import inboxes_deliver_all

# The message every lobby socket of this process gets then (LobbyConsumer.presence_lost).
PRESENCE_LOST = "presence.lost"


def presence_lost_tell_sockets(**kwargs: Any) -> None:
    inboxes_deliver_all({"type": PRESENCE_LOST})


def connect() -> None:
    presence_lost.connect(presence_lost_tell_sockets, dispatch_uid="signaling.presence_lost")
