"""Operational endpoints (/livez, /readyz, /metrics) and the protocol page."""
from __future__ import annotations

import asyncio
import uuid
import html
import math

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from errors.boundary import error_body, report_error
from errors.exceptions import ChannelLayerUnavailableError, DatabaseUnavailableError
from errors.breakers import breaker_snapshots
from errors.resilience import DATABASE_ERRORS, LAYER_ERRORS

READY_CHECK_TIMEOUT = 2.0


def livez(request: HttpRequest) -> JsonResponse:
    """200 while the process serves; touches no database and no Redis."""
    return JsonResponse({"status": "ok"})


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
    try:
        await asyncio.wait_for(sync_to_async(_database_ping, thread_sensitive=False)(), READY_CHECK_TIMEOUT)
    except (*DATABASE_ERRORS, asyncio.TimeoutError) as exc:
        raise DatabaseUnavailableError(
            retry_after=settings.VOICEBOT_RETRY_AFTER, context={"exception": type(exc).__name__}
        ) from exc


async def _check_channel_layer() -> None:
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    try:
        # A plain channel name, read straight from the layer: channels-redis
        # serves its process-local ("!") channels through the receive loop of
        # the sockets, where a probe would wait behind them.
        channel = f"readyz.{uuid.uuid4().hex}"
        await asyncio.wait_for(layer.send(channel, {"type": "readyz.ping"}), READY_CHECK_TIMEOUT)
        await asyncio.wait_for(layer.receive(channel), READY_CHECK_TIMEOUT)
    except LAYER_ERRORS as exc:
        raise ChannelLayerUnavailableError(
            retry_after=settings.VOICEBOT_RETRY_AFTER, context={"exception": type(exc).__name__}
        ) from exc


async def readyz(request: HttpRequest) -> JsonResponse:
    """200 when the database and the channel layer answer; 503 naming the one that does not."""
    checks: dict[str, str] = {}
    failure = None
    for name, check in (("database", _check_database), ("channel_layer", _check_channel_layer)):
        # The probe goes to the dependency itself, past its circuit breaker,
        # and leaves the breaker alone: only real traffic opens or closes it.
        try:
            await check()
            checks[name] = "ok"
        except (DatabaseUnavailableError, ChannelLayerUnavailableError) as exc:
            checks[name] = "unavailable"
            failure = failure or exc
    # Each circuit breaker's state (closed, open or half_open), in a header
    # so that the body keeps its documented shape.
    breakers = ", ".join(f"{snapshot.name}={snapshot.state}" for snapshot in breaker_snapshots())
    if failure is None:
        response = JsonResponse({"status": "ok", "checks": checks})
        response["Circuit-Breakers"] = breakers
        return response
    error, report = report_error(failure, transport="http", where="readyz")
    response = JsonResponse(
        {**error_body(error, report.correlation_id), "status": "unavailable", "checks": checks}, status=503
    )
    response["Circuit-Breakers"] = breakers
    response["Retry-After"] = str(math.ceil(error.retry_after or settings.VOICEBOT_RETRY_AFTER))
    return response


def metrics(request: HttpRequest) -> HttpResponse:
    return HttpResponse(generate_latest(), content_type=CONTENT_TYPE_LATEST)


def protocol_docs(request: HttpRequest) -> HttpResponse:
    text = (settings.BASE_DIR / "docs" / "protocol.md").read_text(encoding="utf-8")
    return HttpResponse(
        "<!doctype html><meta charset=utf-8><title>VoiceBot protocol</title>"
        f"<pre style='white-space:pre-wrap;max-width:60rem;margin:2rem auto'>{html.escape(text)}</pre>"
    )
