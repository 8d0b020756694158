"""Which group an error belongs to: its fingerprint and its title.

The fingerprint is made of what stays the same from one occurrence to the
next: the code, the category and where it was raised (a message type, a view
name, a task), and for an unexpected exception its type and the function it
was raised in. Never the message or any other variable text, so that a
million ``peer_not_found`` for a million peers make one group.
"""
from __future__ import annotations

import hashlib

from errors.report import ErrorReport


def cause_signature(cause: BaseException | None) -> str:
    """``module.Type in module.function`` of an unexpected exception, or ''."""
    if cause is None:
        return ""
    exc_type = type(cause)
    signature = f"{exc_type.__module__}.{exc_type.__qualname__}"
    tb = cause.__traceback__
    if tb is not None:
        while tb.tb_next is not None:
            tb = tb.tb_next
        frame = tb.tb_frame
        signature += f" in {frame.f_globals.get('__name__', '?')}.{frame.f_code.co_name}"
    return signature


# Fingerprints of reports with no cause, per (code, category, where): a
# flood of one bad frame hashes the same three strings again and again.
# ``where`` is never variable text, so the keys are few; the bound is a guard.
_KNOWN_MAX = 4096
_known: dict[tuple[str, str, str], str] = {}


def report_fingerprint(report: ErrorReport) -> str:
    error = report.error
    if report.cause is None:
        key = (error.code, error.category, report.where)
        fingerprint = _known.get(key)
        if fingerprint is None:
            if len(_known) >= _KNOWN_MAX:
                _known.clear()
            fingerprint = _known[key] = _fingerprint(error.code, str(error.category), report.where, "")
        return fingerprint
    return _fingerprint(error.code, str(error.category), report.where, cause_signature(report.cause))


def _fingerprint(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


def report_title(report: ErrorReport) -> str:
    title = f"{report.error.code} in {report.where}"
    if report.cause is not None:
        title += f": {type(report.cause).__qualname__}"
    return title[:255]
