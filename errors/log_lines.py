"""The log lines of error reports: one per occurrence within its group's sample, one per group for the rest.

An error report is logged at its severity's level under its correlation id.
Beyond ``VOICEBOT_ERROR_SAMPLE_RATE`` occurrences of one group, the recorder
stores no row for an occurrence but counts it (errors.recorder); its log line
goes the same way: the writer logs one line per such group and write (one per
hundred ids), with how many occurrences it stands for and their correlation
ids. A flood of one client's bad frames then costs a log line per second, not
one per frame, and every id given to a client is still in the log.
``VOICEBOT_ERROR_LOG_EVERY`` logs every occurrence instead.
"""
from __future__ import annotations

import logging

from errors.choices import Severity
from errors.report import ErrorReport

logger = logging.getLogger("voicebot.errors")

# Correlation ids per folded line (32 characters and a comma each).
IDS_PER_LINE = 100

LOG_LEVELS = {
    Severity.LOW: logging.INFO,
    Severity.MEDIUM: logging.WARNING,
    Severity.HIGH: logging.ERROR,
    Severity.CRITICAL: logging.CRITICAL,
}


def report_log(report: ErrorReport) -> None:
    """The occurrence's own line, with the traceback of an unexpected exception."""
    cause = report.cause
    logger.log(
        LOG_LEVELS[report.error.severity],
        "%s correlation_id=%s where=%s lobby=%s session=%s context=%r",
        report.error.code,
        report.correlation_id,
        report.where,
        report.lobby_id,
        report.session_id,
        report.context,
        exc_info=(type(cause), cause, cause.__traceback__) if cause is not None else None,
        extra={"correlation_id": report.correlation_id, "error_code": report.error.code},
    )


def folded_log(report: ErrorReport, count: int, correlation_ids: list[str]) -> None:
    """Lines for ``count`` occurrences of ``report``'s group beyond its sample, ``report`` the latest.

    Each line lists up to ``IDS_PER_LINE`` of their correlation ids, so that
    every id a client was given can be found in the log; ids beyond what the
    recorder keeps (``VOICEBOT_ERROR_FOLDED_IDS_MAX``) are counted on the last line.
    """
    level = LOG_LEVELS[report.error.severity]
    lines = [correlation_ids[start:start + IDS_PER_LINE]
             for start in range(0, len(correlation_ids), IDS_PER_LINE)] or [[]]
    unlisted = count - len(correlation_ids)
    for number, ids in enumerate(lines, start=1):
        last = number == len(lines)
        logger.log(
            level,
            "%s x%d beyond the sample, not logged one by one (line %d of %d): correlation_ids=%s%s;"
            " the latest where=%s lobby=%s session=%s",
            report.error.code,
            count,
            number,
            len(lines),
            ",".join(ids) or "-",
            f" and {unlisted} not listed" if last and unlisted > 0 else "",
            report.where,
            report.lobby_id,
            report.session_id,
            extra={"correlation_id": report.correlation_id, "error_code": report.error.code, "occurrences": count},
        )
