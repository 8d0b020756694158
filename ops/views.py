"""Operational endpoints: /livez, /readyz, /metrics."""
from __future__ import annotations

import asyncio
import math

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from prometheus_client import CONTENT_TYPE_LATEST

from bots.selectors import worker_breakers, workers_alive
from errors.boundary import error_body, report_error
from ops.metrics import metrics_text, worker_breakers_text
from resilience.failures import DATABASE_ERRORS
from resilience.readiness import CHECK_TIMEOUT, readiness_check
from resilience.registry import breaker_snapshots


def livez(request: HttpRequest) -> JsonResponse:
    """200 while the process serves; touches no database and no Redis."""
    return JsonResponse({"status": "ok"})


async def readyz(request: HttpRequest) -> JsonResponse:
    """200 when the database and the channel layer answer; 503 naming the one that does not."""
    readiness = await readiness_check()
    # Each circuit breaker's state (closed, open or half_open), in a header
    # so that the body keeps its documented shape.
    breakers = ", ".join([f"{snapshot.name}={snapshot.state}" for snapshot in breaker_snapshots()]
                         + [f"{name}={state}" for name, state in (await _worker_llm_breakers()).items()])
    if readiness.failure is None:
        response = JsonResponse({"status": "ok", "checks": readiness.checks})
        response["Circuit-Breakers"] = breakers
        response["Bot-Workers"] = await _bot_workers_header()
        return response
    error, report = report_error(readiness.failure, transport="http", where="readyz")
    response = JsonResponse(
        {**error_body(error, report.correlation_id), "status": "unavailable", "checks": readiness.checks}, status=503
    )
    response["Circuit-Breakers"] = breakers
    response["Retry-After"] = str(math.ceil(error.retry_after or settings.VOICEBOT_RETRY_AFTER))
    return response


def _bot_workers() -> str:
    try:
        return ", ".join(
            f"{worker.id}@{worker.host}:{worker.pid}={worker.carried}/{worker.capacity}"  # type: ignore[attr-defined]
            for worker in workers_alive()
        ) or "none"
    finally:
        connection.close()


async def _bot_workers_header() -> str:
    """The bot workers alive, each with the bots it carries of its capacity: ``id@host:pid=2/4, ...``."""
    try:
        return await asyncio.wait_for(sync_to_async(_bot_workers, thread_sensitive=False)(), CHECK_TIMEOUT)
    except (*DATABASE_ERRORS, asyncio.TimeoutError):
        return "unknown"


def _worker_llm_breakers_read() -> dict[str, str]:
    try:
        return {name: state for name, state in worker_breakers().items() if name.startswith("llm.")}
    finally:
        connection.close()


async def _worker_llm_breakers() -> dict[str, str]:
    """The language-model providers' breakers as the live bot workers report them (they call them, not us)."""
    try:
        return await asyncio.wait_for(sync_to_async(_worker_llm_breakers_read, thread_sensitive=False)(),
                                      CHECK_TIMEOUT)
    except (*DATABASE_ERRORS, asyncio.TimeoutError):
        return {}


def metrics(request: HttpRequest) -> HttpResponse:
    try:
        reported = worker_breakers()
    except DATABASE_ERRORS:
        reported = {}
    return HttpResponse(metrics_text() + worker_breakers_text(reported), content_type=CONTENT_TYPE_LATEST)

