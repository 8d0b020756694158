"""A bot's speech service that is down: ``unavailable``, said in chat, stored, and probed until it answers.

When every provider of a role failed (``SpeechUnavailableError``), a kind
calls ``SpeechOutage.begin``: the bot's state becomes ``unavailable``, it
posts ``down_text`` in the chat, the error is stored with category ``bot``
(its context names each provider and why it failed), and a task calls the
role's ``probe`` every ``VOICEBOT_BOT_PROBE_INTERVAL`` seconds (or the
breakers' ``retry_after``, when longer; each probe respects the breakers, so
a provider whose breaker is open is not called). The first probe that
answers ends the outage: the state goes back to ``resume_state``, the bot
posts ``up_text`` and ``on_recovered`` runs. A second failure while one
outage runs changes nothing.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from django.conf import settings

from bots.kinds.base import BotContext
from bots.speech.exceptions import SpeechUnavailableError
from lobbies.models import Participant

logger = logging.getLogger("voicebot.bots")

# The longest wait between two probes, whatever a breaker says.
MAX_PROBE_WAIT = 10.0


class SpeechOutage:
    def __init__(self, context: BotContext, *, down_text: str, up_text: str, resume_state: str,
                 on_recovered: Callable[[], None] | None = None) -> None:
        self.context = context
        self.down_text = down_text
        self.up_text = up_text
        self.resume_state = resume_state
        self.on_recovered = on_recovered
        self.task: asyncio.Task[None] | None = None
        self.outages = 0

    @property
    def down(self) -> bool:
        return self.task is not None

    def begin(self, exc: SpeechUnavailableError, *, probe: Callable[[], Awaitable[bool]], where: str) -> None:
        if self.down:
            return
        self.outages += 1
        logger.warning("bot %s: %s", self.context.session_id[:8], exc)
        self.context.set_state(Participant.BotState.UNAVAILABLE)
        self.context.report(exc, where)
        self.task = asyncio.get_running_loop().create_task(self._until_up(probe, exc.retry_after))

    async def _until_up(self, probe: Callable[[], Awaitable[bool]], retry_after: float | None) -> None:
        try:
            await self.context.say(self.down_text)
            wait = min(MAX_PROBE_WAIT, max(settings.VOICEBOT_BOT_PROBE_INTERVAL, retry_after or 0.0))
            while True:
                await asyncio.sleep(wait)
                try:
                    if await probe():
                        break
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - a probe that breaks is one that failed
                    self.context.report(exc, "probe")
                wait = min(MAX_PROBE_WAIT, settings.VOICEBOT_BOT_PROBE_INTERVAL)
        finally:
            self.task = None
        logger.info("bot %s: its speech service answers again", self.context.session_id[:8])
        if self.on_recovered is not None:
            self.on_recovered()
        self.context.set_state(self.resume_state)
        await self.context.say(self.up_text)

    async def stop(self) -> None:
        task, self.task = self.task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
