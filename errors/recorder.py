"""The one place every error report goes after it is logged.

The recorder class is chosen by the dotted path in ``VOICEBOT_ERROR_RECORDER``.
The default counts every error in Prometheus (``voicebot_errors_total``).
"""
from __future__ import annotations

from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string
from prometheus_client import Counter

from errors.report import ErrorReport

ERRORS_TOTAL = Counter(
    "voicebot_errors_total",
    "Errors reported to clients, by code, category and severity.",
    ["code", "category", "severity", "transport"],
)


class ErrorRecorder:
    """Base class: receives every report; must never raise or block."""

    def record(self, report: ErrorReport) -> None:
        ERRORS_TOTAL.labels(
            report.error.code,
            report.error.category,
            report.error.severity,
            report.transport,
        ).inc()


class MetricsRecorder(ErrorRecorder):
    """Counts errors for /metrics and keeps nothing else."""


@cache
def get_recorder() -> ErrorRecorder:
    recorder_class = import_string(settings.VOICEBOT_ERROR_RECORDER)
    return recorder_class()
