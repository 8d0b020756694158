"""Guards around the dependencies that can fail: the database and the channel layer.

A failure of either reaches the client as ``service_unavailable`` with
``recovery: "retry"`` and a ``retry_after``, never as a traceback, and never
kills the socket that ran into it. Behind the same functions every caller
gets:

- a circuit breaker per dependency (``errors.breakers``): after
  ``VOICEBOT_BREAKER_FAILURE_THRESHOLD`` failures in a row, calls are refused
  at once with the breaker's ``retry_after`` until a trial call succeeds;
- retries with exponential backoff and jitter (tenacity), only where a
  retry cannot do anything twice:

  * ``db_call`` retries a failure to *connect*: nothing of the call ran yet.
    A failure once the call is running is not retried (the function may not
    be one transaction, and a lost COMMIT is ambiguous): the client is told
    to retry instead.
  * ``group_add`` and ``group_discard`` are retried: they are idempotent.
  * ``send`` and ``group_send`` are not: a send that timed out may still
    have been delivered, and a chat line or an offer must not arrive twice.
    The relay path (``send``, once per relayed frame) costs one attribute
    check on the breaker while it is closed.

The channel layer's group memberships of this process are remembered, and
added again once the layer answers after a failure, so that a Redis that
restarted empty serves the lobbies again without any socket reconnecting.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from functools import cache, partial, wraps
from typing import Any, ParamSpec, TypeVar

import redis.exceptions
from channels.db import database_sync_to_async
from channels.exceptions import ChannelFull
from channels.layers import BaseChannelLayer, get_channel_layer
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connections
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt, stop_any

from errors.breakers import CircuitBreaker, breaker_get
from errors.exceptions import ChannelLayerUnavailableError, DatabaseUnavailableError
from errors.recorder import BreakerOpened, backoff

logger = logging.getLogger("voicebot.errors")

P = ParamSpec("P")
R = TypeVar("R")

DATABASE_ERRORS = (OperationalError, InterfaceError)
LAYER_ERRORS = (OSError, asyncio.TimeoutError, redis.exceptions.RedisError, ChannelFull)

DATABASE = "database"
CHANNEL_LAYER = "channel_layer"


def translate_dependency_error(exc: BaseException) -> BaseException:
    """The typed error a raw dependency failure stands for (or ``exc`` itself)."""
    if isinstance(exc, DATABASE_ERRORS):
        return database_unavailable(exc)
    if isinstance(exc, LAYER_ERRORS):
        return layer_unavailable(exc)
    return exc


def _retry_after(breaker: CircuitBreaker) -> float:
    return breaker.retry_after() if breaker.state == "open" else settings.VOICEBOT_RETRY_AFTER


def database_unavailable(exc: BaseException | None = None) -> DatabaseUnavailableError:
    breaker = breaker_get(DATABASE)
    context = {"breaker": breaker.state}
    if exc is not None:
        context["exception"] = type(exc).__name__
    return DatabaseUnavailableError(retry_after=_retry_after(breaker), context=context)


def layer_unavailable(exc: BaseException | None = None) -> ChannelLayerUnavailableError:
    breaker = breaker_get(CHANNEL_LAYER)
    context = {"breaker": breaker.state}
    if exc is not None:
        context["exception"] = type(exc).__name__
    return ChannelLayerUnavailableError(retry_after=_retry_after(breaker), context=context)


def retrying(
    breaker: CircuitBreaker,
    retry_on: type[BaseException] | tuple[type[BaseException], ...],
    *,
    attempts: int | None = None,
) -> AsyncRetrying:
    """tenacity's async retry: backoff with jitter, stopped by attempts (default
    ``VOICEBOT_RETRY_ATTEMPTS``) or an opened breaker."""
    return AsyncRetrying(
        retry=retry_if_exception_type(retry_on),
        stop=stop_any(
            stop_after_attempt(settings.VOICEBOT_RETRY_ATTEMPTS if attempts is None else attempts),
            BreakerOpened(breaker),
        ),
        wait=backoff(),
        reraise=True,
    )


async def call_retrying(
    breaker: CircuitBreaker,
    retry_on: type[BaseException] | tuple[type[BaseException], ...],
    call: Callable[[], Awaitable[R]],
) -> R:
    """``call()``, retried on ``retry_on`` as ``retrying`` does: backoff, attempts, the breaker.

    The first attempt runs plainly and tenacity's loop is built only after it
    failed: building one costs about 0.1 ms of CPU (it inspects its
    callbacks), which every database call and group change paid before.
    """
    try:
        return await call()
    except retry_on:
        first = retrying(breaker, retry_on)
        state = RetryCallState(first, fn=None, args=(), kwargs={})  # attempt 1, just failed
        if first.stop(state):
            raise
        await asyncio.sleep(first.wait(state))
    async for attempt in retrying(breaker, retry_on, attempts=settings.VOICEBOT_RETRY_ATTEMPTS - 1):
        with attempt:
            result = await call()
    return result


# --- The database -----------------------------------------------------------


class ConnectFailedError(Exception):
    """The database could not be reached before the call ran (safe to retry)."""


@cache
def db_call(fn: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """``database_sync_to_async`` with the database's breaker and connect retries.

    Database failures are raised as DatabaseUnavailableError. Callers write
    ``await db_call(service)(...)``: the wrapper of each function is built
    once (cached), not at every call.
    """

    def connected_call(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            connections[DEFAULT_DB_ALIAS].ensure_connection()
        except DATABASE_ERRORS as exc:
            raise ConnectFailedError() from exc
        return fn(*args, **kwargs)

    run = database_sync_to_async(connected_call)

    @wraps(fn)
    async def call(*args: P.args, **kwargs: P.kwargs) -> R:
        breaker = breaker_get(DATABASE)
        if not breaker.allow():
            raise database_unavailable()

        async def attempt() -> R:
            try:
                return await run(*args, **kwargs)
            except ConnectFailedError as exc:
                breaker.record_failure(exc.__cause__)
                raise

        try:
            result = await call_retrying(breaker, ConnectFailedError, attempt)
        except ConnectFailedError as exc:
            raise database_unavailable(exc.__cause__) from exc.__cause__
        except DATABASE_ERRORS as exc:
            breaker.record_failure(exc)
            raise database_unavailable(exc) from exc
        except BaseException:
            # The database answered; the call itself failed.
            breaker.record_success()
            raise
        breaker.record_success()
        return result

    return call


# --- The channel layer ------------------------------------------------------


def _being_cancelled() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


# Discarding a channel that was never added is a real round trip that changes nothing.
PROBE_GROUP = "voicebot.probe"
PROBE_CHANNEL = "voicebot.probe"


class GuardedChannelLayer:
    """The channel layer behind its breaker, failures raised as ChannelLayerUnavailableError."""

    def __init__(self, layer: BaseChannelLayer) -> None:
        self.layer = layer
        self.breaker = breaker_get(CHANNEL_LAYER)
        # channel -> the groups this process added it to
        self.memberships: dict[str, set[str]] = {}
        self._disrupted = False
        self._probing: asyncio.Task[None] | None = None

    def failed(self, exc: BaseException) -> ChannelLayerUnavailableError:
        """Count a failure (a full channel is one peer's backlog, not an outage)."""
        if not isinstance(exc, ChannelFull):
            self.breaker.record_failure(exc)
            self._disrupted = True
        return layer_unavailable(exc)

    def succeeded(self) -> None:
        self.breaker.record_success()

    async def recover(self) -> None:
        """After failures, add back every remembered membership before anything else.

        Redis may have come back empty: a broadcast sent before the groups are
        rebuilt would reach no one.
        """
        if self._disrupted:
            await self.memberships_restore()
            self._disrupted = False

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        if not self.breaker.allow():
            raise layer_unavailable()
        try:
            await self.recover()
            await self.layer.send(channel, message)
        except LAYER_ERRORS as exc:
            raise self.failed(exc) from exc
        self.succeeded()

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        if not self.breaker.allow():
            raise layer_unavailable()
        try:
            await self.recover()
            await self.layer.group_send(group, message)
        except LAYER_ERRORS as exc:
            raise self.failed(exc) from exc
        self.succeeded()

    async def group_add(self, group: str, channel: str) -> None:
        self.memberships.setdefault(channel, set()).add(group)
        await self._idempotent(self.layer.group_add, group, channel)

    async def group_discard(self, group: str, channel: str) -> None:
        groups = self.memberships.get(channel)
        if groups is not None:
            groups.discard(group)
            if not groups:
                del self.memberships[channel]
        await self._idempotent(self.layer.group_discard, group, channel)

    async def _idempotent(self, operation: Callable[[str, str], Awaitable[None]], group: str, channel: str) -> None:
        if not self.breaker.allow():
            raise layer_unavailable()

        async def attempt() -> None:
            try:
                await self.recover()
                await operation(group, channel)
            except LAYER_ERRORS as exc:
                self.failed(exc)
                raise

        try:
            await call_retrying(self.breaker, LAYER_ERRORS, attempt)
        except LAYER_ERRORS as exc:
            raise layer_unavailable(exc) from exc
        self.succeeded()

    def channel_forget(self, channel: str) -> None:
        """A socket is gone: its memberships are not restored any more."""
        self.memberships.pop(channel, None)

    async def memberships_restore(self) -> None:
        """Add every remembered membership again (the layer may have lost them); layer errors propagate."""
        restored = 0
        for channel, groups in list(self.memberships.items()):
            for group in list(groups):
                await self.layer.group_add(group, channel)
                restored += 1
        if restored:
            logger.info("channel layer answers again: %d group memberships restored", restored)

    async def receive(self, channel: str) -> dict[str, Any]:
        return await self.receive_with(partial(self.layer.receive, channel))

    async def receive_with(self, receive: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
        """The next message, waiting out an outage instead of failing.

        A consumer's receive loop must not die with the layer: it tries again
        with backoff, or after the breaker's ``retry_after`` while it is open.
        The first try costs one call; the retry machinery starts only after a
        failure.
        """
        try:
            return await receive()
        except LAYER_ERRORS as exc:
            self._receive_failed(exc)
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(LAYER_ERRORS), wait=self._receive_wait, reraise=True
        ):
            with attempt:
                try:
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
        self.failed(exc)

    def probe_soon(self) -> None:
        """Check the layer with one real, idempotent call, unless a check is running."""
        if self._probing is None or self._probing.done():
            self._probing = asyncio.get_running_loop().create_task(self._probe())

    async def _probe(self) -> None:
        try:
            await self.layer.group_discard(PROBE_GROUP, PROBE_CHANNEL)
            await self.recover()
        except LAYER_ERRORS as exc:
            self.failed(exc)
        else:
            self.succeeded()

    def _receive_wait(self, retry_state: RetryCallState) -> float:
        if self.breaker.state == "open":
            return self.breaker.retry_after()
        return backoff()(retry_state)


_guarded: dict[int, GuardedChannelLayer] = {}


def breaker_opened_report(breaker: CircuitBreaker) -> None:
    """Every opening of a breaker is an error of its own, stored for staff."""
    from errors.boundary import report_error

    error = database_unavailable() if breaker.name == DATABASE else layer_unavailable()
    error.context.update(failures=breaker.failure_threshold, last_failure=breaker.last_failure)
    report_error(error, transport="internal", where=f"breaker.{breaker.name}")


breaker_get(DATABASE).on_open.append(breaker_opened_report)
breaker_get(CHANNEL_LAYER).on_open.append(breaker_opened_report)


def channel_layer() -> GuardedChannelLayer:
    layer = get_channel_layer()
    guarded = _guarded.get(id(layer))
    if guarded is None or guarded.layer is not layer:
        guarded = _guarded[id(layer)] = GuardedChannelLayer(layer)
    return guarded
