"""The readiness probe: does each of the server's dependencies answer right now?

The probe goes to each dependency itself, past its circuit breaker, and
leaves the breaker alone: only real traffic opens or closes a breaker. It
says which dependency fails; ``/readyz`` (ops.views) answers with it. A
dependency that answers the probe while its breaker is open is not ready
either (``breaker_open``): this process refuses its calls until a trial call
succeeds, and a probe that said otherwise would send traffic to be refused.
"""
from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.db import connection

from resilience.channel_layer import CHANNEL_LAYER, layer_dependency, layer_unavailable
from resilience.database import DATABASE, database, database_unavailable
from resilience.failures import DATABASE_ERRORS, LAYER_ERRORS

CHECK_TIMEOUT = 2.0


@dataclass
class Readiness:
    checks: dict[str, str] = field(default_factory=dict)
    # The typed error of the first dependency that failed, None when all answered.
    failure: BaseException | None = None

    @property
    def ready(self) -> bool:
        return self.failure is None


def _database_ping() -> None:
    # A fresh connection each time, closed at once: this runs on a pool thread
    # that no request cycle cleans up, so a connection left open there would
    # answer for a database that is gone (or stay broken after it restarts).
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    finally:
        connection.close()


async def _check_database() -> None:
    await asyncio.wait_for(sync_to_async(_database_ping, thread_sensitive=False)(), CHECK_TIMEOUT)


async def _check_channel_layer() -> None:
    layer = get_channel_layer()
    # A plain channel name, read straight from the layer: channels-redis
    # serves its process-local ("!") channels through the receive loop of
    # the sockets, where a probe would wait behind them.
    channel = f"readyz.{uuid.uuid4().hex}"
    await asyncio.wait_for(layer.send(channel, {"type": "readyz.ping"}), CHECK_TIMEOUT)
    await asyncio.wait_for(layer.receive(channel), CHECK_TIMEOUT)


async def readiness_check() -> Readiness:
    # The server's own dependencies are listed (Circuit-Breakers) even before their first call.
    database()
    layer_dependency()
    readiness = Readiness()
    for name, check, failures, unavailable, guarded in (
        (DATABASE, _check_database, DATABASE_ERRORS, database_unavailable, database),
        (CHANNEL_LAYER, _check_channel_layer, LAYER_ERRORS, layer_unavailable, layer_dependency),
    ):
        try:
            await check()
        except (*failures, asyncio.TimeoutError) as exc:
            readiness.checks[name] = "unavailable"
            if readiness.failure is None:
                readiness.failure = unavailable(exc)
            continue
        if guarded().state == "open":
            readiness.checks[name] = "breaker_open"
            if readiness.failure is None:
                readiness.failure = unavailable()
        else:
            readiness.checks[name] = "ok"
    return readiness
