"""Turning any exception into a logged, recorded report and a client envelope.

Both error boundaries (``errors.consumers.ErrorBoundaryMixin`` for WebSocket
frames, ``errors.middleware.ErrorBoundaryMiddleware`` for HTTP) call
``report_error`` once per error, then send ``error_envelope`` to the client.
"""
from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.utils import timezone

from errors.exceptions import FatalConnectionError, InternalServerError, VoiceBotError
from errors.log_lines import report_log
from errors.recorder import get_recorder
from errors.report import ErrorReport, Transport

logger = logging.getLogger("voicebot.errors")

# Called with every report once it is recorded (the audit log listens for the
# errors that are security events); a listener must be quick and never raise.
report_listeners: list[Callable[[ErrorReport], None]] = []


def report_error(
    exc: BaseException,
    *,
    transport: Transport,
    where: str,
    lobby_id: str | None = None,
    session_id: str | None = None,
    context: dict[str, Any] | None = None,
    fatal: bool = False,
    address: str | None = None,
) -> tuple[VoiceBotError, ErrorReport]:
    """Hand ``exc`` to the recorder under a new correlation id, and log it (errors.log_lines).

    Returns the error to show the client: ``exc`` itself when it is a
    VoiceBotError, else an ``internal_error`` that reveals nothing of it
    (``fatal`` picks the variant that closes the socket with 4011).
    """
    if isinstance(exc, VoiceBotError):
        error, cause = exc, None
    else:
        error = FatalConnectionError() if fatal else InternalServerError()
        cause = exc
    report = ErrorReport(
        error=error,
        correlation_id=uuid.uuid4().hex,
        transport=transport,
        where=where,
        occurred_at=timezone.now(),
        lobby_id=lobby_id,
        session_id=session_id,
        context={**(context or {}), **error.context},
        cause=cause,
        address=address,
    )
    whole = True
    try:
        whole = get_recorder().record(report) is not False
    except Exception:  # the recorder must never take a connection down with it
        logger.exception("error recorder failed for correlation_id=%s", report.correlation_id)
    if whole or settings.VOICEBOT_ERROR_LOG_EVERY:
        report_log(report)
    for listener in report_listeners:
        try:
            listener(report)
        except Exception:  # noqa: BLE001 - a listener must never take a connection down either
            logger.exception("error report listener failed for correlation_id=%s", report.correlation_id)
    return error, report


def error_body(error: VoiceBotError, correlation_id: str, in_reply_to: str | None = None) -> dict[str, Any]:
    """The error envelope of the protocol, without ``type`` (the HTTP body)."""
    return {
        "code": error.code,
        "message": error.user_message,
        "category": str(error.category),
        "severity": str(error.severity),
        "recovery": str(error.recovery),
        "correlation_id": correlation_id,
        "in_reply_to": in_reply_to,
        "retry_after": error.retry_after,
    }


def error_envelope(error: VoiceBotError, correlation_id: str, in_reply_to: str | None = None) -> dict[str, Any]:
    """The ``error`` frame of the WebSocket protocol."""
    return {"type": "error", **error_body(error, correlation_id, in_reply_to)}
