"""Turning any exception into a logged, recorded report and a client envelope.

Both error boundaries (``errors.consumers.ErrorBoundaryMixin`` for WebSocket
frames, ``errors.middleware.ErrorBoundaryMiddleware`` for HTTP) call
``report_error`` once per error, then send ``error_envelope`` to the client.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from errors.exceptions import FatalConnectionError, InternalServerError, VoiceBotError
from errors.log_lines import report_log
from errors.recorder import get_recorder
from errors.report import ErrorReport, Transport
from voicebot_site.settings_snapshot import SettingsSnapshot

logger = logging.getLogger("voicebot.errors")

# Called with every report once it is recorded (the audit log listens for the
# errors that are security events); a listener must be quick, never raise and
# never change the report.
report_listeners: list[Callable[[ErrorReport], None]] = []

LOG_SETTINGS = SettingsSnapshot(log_every="VOICEBOT_ERROR_LOG_EVERY")


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
        # 32 hex digits from the system's random source, as uuid4().hex gives without the UUID object.
        correlation_id=os.urandom(16).hex(),
        transport=transport,
        where=where,
        occurred_at=datetime.now(UTC),  # USE_TZ is on: what django.utils.timezone.now() gives
        lobby_id=lobby_id,
        session_id=session_id,
        context={**context, **error.context} if context else error.context,
        cause=cause,
        address=address,
    )
    whole = True
    try:
        whole = get_recorder().record(report) is not False
    except Exception:  # the recorder must never take a connection down with it
        logger.exception("error recorder failed for correlation_id=%s", report.correlation_id)
    if whole or LOG_SETTINGS.log_every:
        report_log(report)
    for listener in report_listeners:
        try:
            listener(report)
        except Exception:  # noqa: BLE001 - a listener must never take a connection down either
            logger.exception("error report listener failed for correlation_id=%s", report.correlation_id)
    return error, report


def error_body(error: VoiceBotError, correlation_id: str, in_reply_to: str | None = None) -> dict[str, Any]:
    """The error envelope of the protocol, without ``type`` (the HTTP body)."""
    body = error_envelope(error, correlation_id, in_reply_to)
    del body["type"]
    return body


def error_envelope(error: VoiceBotError, correlation_id: str, in_reply_to: str | None = None) -> dict[str, Any]:
    """The ``error`` frame of the WebSocket protocol (built in one literal: every bad frame gets one)."""
    return {
        "type": "error",
        "code": error.code,
        "message": error.user_message,
        "category": str(error.category),
        "severity": str(error.severity),
        "recovery": str(error.recovery),
        "correlation_id": correlation_id,
        "in_reply_to": in_reply_to,
        "retry_after": error.retry_after,
    }
