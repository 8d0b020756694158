"""The channel layer as a guarded dependency.

A failure of the layer reaches the client as ``service_unavailable``
(category ``network``, ``recovery: "retry"``, a ``retry_after``) and never kills
the socket that ran into it. Every call goes through the layer's
``Dependency`` (resilience.guard):

- ``group_add`` and ``group_discard`` are retried: they are idempotent;
- ``send`` and ``group_send`` are not: a send that timed out may still have
  been delivered, and a chat line or an offer must not arrive twice. The
  relay path (``send``, once per frame relayed to another process) costs one
  attribute read on the breaker while it is closed;
- a full channel (``ChannelFull``) is one receiver's backlog, not an outage:
  the sender is told, the breaker counts an answer;
- a receive is watched, never refused: a consumer's receive loop waits out an
  outage (with backoff, or the breaker's ``retry_after`` while it is open)
  instead of dying, and a probe asks the layer itself before its success
  closes anything (a receive may be served from a local buffer).

After any failure, the group memberships of this process (resilience.memberships)
are added again before the next call goes through.
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from channels.exceptions import ChannelFull
from channels.layers import BaseChannelLayer, get_channel_layer
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type

from errors.exceptions import ChannelLayerUnavailableError
from resilience.failures import LAYER_ERRORS
from resilience.guard import Attempt, Dependency, Outcome
from resilience.memberships import Memberships
from resilience.registry import dependency
from resilience.retry import Replay

CHANNEL_LAYER = "channel_layer"

# Discarding a channel that was never added is a real round trip that changes nothing.
PROBE_GROUP = "voicebot.probe"
PROBE_CHANNEL = "voicebot.probe"


def _classify(exc: BaseException) -> Outcome:
    if isinstance(exc, ChannelFull):
        return Outcome.CALLER_ERROR
    if isinstance(exc, LAYER_ERRORS):
        return Outcome.FAILURE
    return Outcome.CALLER_ERROR


def _unavailable(made: Dependency, cause: BaseException | None) -> ChannelLayerUnavailableError:
    context = {"breaker": made.breaker.state}
    if cause is not None:
        context["exception"] = type(cause).__name__
    return ChannelLayerUnavailableError(retry_after=made.retry_after(), context=context)


def layer_dependency() -> Dependency:
    return dependency(CHANNEL_LAYER, classify=_classify, unavailable=_unavailable)


def layer_unavailable(cause: BaseException | None = None) -> BaseException:
    """The typed error for a channel-layer failure (``cause``), a full channel, or a refused call."""
    return layer_dependency().unavailable_error(cause)


def _being_cancelled() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


class GuardedChannelLayer:
    """The channel layer behind its dependency's guard, failures raised as ChannelLayerUnavailableError."""

    def __init__(self, layer: BaseChannelLayer) -> None:
        self.layer = layer
        self.dependency = layer_dependency()
        self.memberships = Memberships()
        # The breaker's failure count when the memberships were last known to be in place.
        self._restored_at = self.dependency.breaker.failures_total
        self._probing: asyncio.Task[None] | None = None

    def _raised(self, exc: BaseException) -> BaseException:
        """What a send raises for a layer error: a full channel is told like an outage."""
        error = self.dependency.failed(exc)
        return self.dependency.unavailable_error(exc) if error is exc and isinstance(exc, ChannelFull) else error

    async def recover(self) -> None:
        """After failures, add back every remembered membership before anything else."""
        failures = self.dependency.breaker.failures_total
        if failures != self._restored_at:
            await self.memberships.restore(self.layer.group_add)
            self._restored_at = failures

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        try:
            async with Attempt(self.dependency, None):
                await self.recover()
                await self.layer.send(channel, message)
        except LAYER_ERRORS as exc:
            raise self._raised(exc)

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        try:
            async with Attempt(self.dependency, None):
                await self.recover()
                await self.layer.group_send(group, message)
        except LAYER_ERRORS as exc:
            raise self._raised(exc)

    async def group_add(self, group: str, channel: str) -> None:
        self.memberships.add(group, channel)
        await self.dependency.call(partial(self._group_change, self.layer.group_add, group, channel), retry=True)

    async def group_discard(self, group: str, channel: str) -> None:
        self.memberships.discard(group, channel)
        await self.dependency.call(partial(self._group_change, self.layer.group_discard, group, channel), retry=True)

    async def _group_change(self, change: Callable[[str, str], Awaitable[None]], group: str, channel: str) -> None:
        await self.recover()
        await change(group, channel)

    def channel_forget(self, channel: str) -> None:
        """A socket is gone: its memberships are not restored any more."""
        self.memberships.forget(channel)

    async def receive(self, channel: str) -> dict[str, Any]:
        return await self.receive_with(partial(self.layer.receive, channel))

    async def receive_with(self, receive: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
        """The next message, waiting out an outage instead of failing.

        The first try costs one call; the retry machinery starts only after a
        failure.
        """
        try:
            async with self.dependency.watch():
                return await receive()
        except LAYER_ERRORS as exc:
            self._receive_failed(exc)
            replay = Replay(exc)
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(LAYER_ERRORS), wait=self._receive_wait, sleep=self.dependency.sleep,
            reraise=True,
        ):
            with attempt:
                first = replay.pending()
                if first is not None:
                    raise first
                try:
                    async with self.dependency.watch():
                        message = await receive()
                except LAYER_ERRORS as exc:
                    self._receive_failed(exc)
                    raise
        # A receive may be served from the layer's local buffer while Redis
        # is still down: it proves nothing. Ask Redis.
        self.probe_soon()
        return message

    def _receive_failed(self, exc: BaseException) -> None:
        if _being_cancelled():
            # The layer turned our cancellation into an error: stop, never
            # retry a receive nobody waits for.
            raise asyncio.CancelledError() from exc

    def _receive_wait(self, retry_state: RetryCallState) -> float:
        if self.dependency.breaker.state == "open":
            return self.dependency.breaker.retry_after()
        return self.dependency.policy.wait()(retry_state)

    def probe_soon(self) -> None:
        """Check the layer with one real, idempotent call, unless a check is running."""
        if self._probing is None or self._probing.done():
            self._probing = asyncio.get_running_loop().create_task(self._probe())

    async def _probe(self) -> None:
        try:
            await self.dependency.call(partial(self._group_change, self.layer.group_discard, PROBE_GROUP,
                                               PROBE_CHANNEL))
        except ChannelLayerUnavailableError:
            pass  # counted by the guard; the next receive or call tries again


_guarded: dict[int, GuardedChannelLayer] = {}


def channel_layer() -> GuardedChannelLayer:
    """The guarded form of this process's channel layer."""
    layer = get_channel_layer()
    guarded = _guarded.get(id(layer))
    if guarded is None or guarded.layer is not layer:
        guarded = _guarded[id(layer)] = GuardedChannelLayer(layer)
    return guarded
