"""Guards around the dependencies that can fail: the database and the channel layer.

A failure of either reaches the client as ``service_unavailable`` with
``recovery: "retry"`` and a ``retry_after``, never as a traceback, and never
kills the socket that ran into it.
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, ParamSpec, TypeVar

import redis.exceptions
from channels.db import database_sync_to_async
from channels.exceptions import ChannelFull
from channels.layers import BaseChannelLayer, get_channel_layer
from django.db import InterfaceError, OperationalError

from errors.exceptions import ChannelLayerUnavailableError, DatabaseUnavailableError

P = ParamSpec("P")
R = TypeVar("R")

DATABASE_ERRORS = (OperationalError, InterfaceError)
LAYER_ERRORS = (OSError, asyncio.TimeoutError, redis.exceptions.RedisError, ChannelFull)


def translate_dependency_error(exc: BaseException) -> BaseException:
    """The typed error a raw dependency failure stands for (or ``exc`` itself)."""
    if isinstance(exc, DATABASE_ERRORS):
        return DatabaseUnavailableError(context={"exception": type(exc).__name__})
    if isinstance(exc, LAYER_ERRORS):
        return ChannelLayerUnavailableError(context={"exception": type(exc).__name__})
    return exc


def db_call(fn: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """``database_sync_to_async`` whose database failures are DatabaseUnavailableError."""
    run = database_sync_to_async(fn)

    @wraps(fn)
    async def call(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await run(*args, **kwargs)
        except DATABASE_ERRORS as exc:
            raise DatabaseUnavailableError(context={"exception": type(exc).__name__}) from exc

    return call


class GuardedChannelLayer:
    """The channel layer, with its failures raised as ChannelLayerUnavailableError."""

    def __init__(self, layer: BaseChannelLayer) -> None:
        self.layer = layer

    async def _guard(self, operation: Awaitable[Any]) -> Any:
        try:
            return await operation
        except LAYER_ERRORS as exc:
            raise ChannelLayerUnavailableError(context={"exception": type(exc).__name__}) from exc

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        await self._guard(self.layer.send(channel, message))

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        await self._guard(self.layer.group_send(group, message))

    async def group_add(self, group: str, channel: str) -> None:
        await self._guard(self.layer.group_add(group, channel))

    async def group_discard(self, group: str, channel: str) -> None:
        await self._guard(self.layer.group_discard(group, channel))


_guarded: dict[int, GuardedChannelLayer] = {}


def channel_layer() -> GuardedChannelLayer:
    layer = get_channel_layer()
    guarded = _guarded.get(id(layer))
    if guarded is None or guarded.layer is not layer:
        guarded = _guarded[id(layer)] = GuardedChannelLayer(layer)
    return guarded
