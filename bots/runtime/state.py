"""What a bot says it is doing (its ``bot.state``), and when it says it.

A bot is ``starting`` from each join until every participant connected at
that moment has a peer connection that is up, or until
``VOICEBOT_BOT_START_TIMEOUT`` has passed (a participant who never answers
the bot's offer does not hold it there); then it is whatever its behaviour
last asked for (``listening`` until it asks). ``refresh`` returns the state
to send when it changed, once.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from django.conf import settings

from lobbies.models import Participant

STARTING = Participant.BotState.STARTING.value


class BotStateKeeper:
    def __init__(self, on_timeout: Callable[[], None]) -> None:
        self.on_timeout = on_timeout
        self.wanted = Participant.BotState.LISTENING.value
        self.sent: str | None = None
        self.starting = False
        self.timer: asyncio.TimerHandle | None = None

    def joined(self) -> None:
        """A join (or a resume): ``starting`` again, and say it even if said before."""
        self.stop()
        self.starting = True
        self.sent = None
        self.timer = asyncio.get_running_loop().call_later(settings.VOICEBOT_BOT_START_TIMEOUT, self.timed_out)

    def timed_out(self) -> None:
        self.starting = False
        self.on_timeout()

    def stop(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def refresh(self, link_states: Iterable[str], linked: Mapping[str, Any],
                participants: Iterable[dict[str, Any]]) -> str | None:
        """The state to send now, or None when it is what was sent last."""
        if self.starting and all(state == "connected" for state in link_states) and all(
            p["session_id"] in linked for p in participants if p["status"] == "connected"
        ):
            self.starting = False
            self.stop()
        state = STARTING if self.starting else self.wanted
        if state == self.sent:
            return None
        self.sent = state
        return state
