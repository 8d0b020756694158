"""What other parts report that the audit log keeps: staff logins, and the errors that are security events.

Staff logins and failed logins come from Django's auth signals (the only hook
it offers for them). Rejected tokens, sockets closed for excess (4008), wrong
passwords past their limit and refused rejoins of kicked participants are
errors the boundaries already report once, with their correlation id: the
audit listens to those reports (``errors.boundary.report_listeners``) rather
than adding a second call at each place they are raised.
"""
from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.http import HttpRequest

from audit.choices import AuditKind
from audit.services import audit_record
from errors.boundary import report_listeners
from errors.report import ErrorReport

# Why a token was refused (UnauthenticatedError's context): only a token
# that was presented is a rejected token; a missing one is not.
REJECTED_TOKEN_REASONS = frozenset({"forged", "expired", "session_gone", "malformed"})
# The codes _kind_of looks at; any other report is no security event (checked first: every error passes here).
AUDITED_CODES = frozenset({"unauthenticated", "policy_violation", "rate_limited", "kicked"})


def _address(request: HttpRequest | None) -> str:
    return (request.META.get("REMOTE_ADDR") or "") if request is not None else ""


def staff_logged_in(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if user.is_staff:
        audit_record(kind=AuditKind.STAFF_LOGIN, actor=user.get_username(), user=user, address=_address(request))


def staff_login_failed(sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None,
                       **kwargs: Any) -> None:
    # Django has already masked the password in ``credentials``; only the username is kept.
    audit_record(kind=AuditKind.STAFF_LOGIN_FAILED, actor=str(credentials.get("username", "")),
                 address=_address(request))


def _kind_of(report: ErrorReport) -> AuditKind | None:
    error = report.error
    if error.code not in AUDITED_CODES:
        return None
    if error.code == "unauthenticated" and report.context.get("token") in REJECTED_TOKEN_REASONS:
        return AuditKind.TOKEN_REJECTED
    if error.code == "policy_violation":
        return AuditKind.RATE_LIMIT_CLOSE
    if error.code == "rate_limited" and str(report.context.get("limit", "")).startswith("password."):
        return AuditKind.PASSWORD_RATE_LIMITED
    if error.code == "kicked" and error.retry_after is not None:
        return AuditKind.KICKED_REJOIN_REFUSED
    return None


def error_reported(report: ErrorReport) -> None:
    kind = _kind_of(report)
    if kind is None:
        return
    audit_record(
        kind=kind,
        actor=f"session {report.session_id[:8]}" if report.session_id else "",
        session_id=report.session_id,
        address=report.address,
        lobby_id=report.lobby_id,
        correlation_id=report.correlation_id,
        details={"transport": report.transport, "where": report.where, "message": report.error.user_message,
                 # ("token" would be scrubbed as a secret's key: the reason is not one.)
                 **({"refused_because": report.context["token"]} if "token" in report.context else {}),
                 **{key: report.context[key] for key in ("limit", "path") if key in report.context}},
    )


def connect() -> None:
    user_logged_in.connect(staff_logged_in, dispatch_uid="audit.staff_logged_in")
    user_login_failed.connect(staff_login_failed, dispatch_uid="audit.staff_login_failed")
    if error_reported not in report_listeners:
        report_listeners.append(error_reported)
