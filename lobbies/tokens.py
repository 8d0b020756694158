"""Signed, expiring session tokens.

A token is the session id, a timestamp and an HMAC made with SECRET_KEY. It is
handed out once by ``POST /api/sessions`` and never stored: verifying it
needs no database.
"""
from __future__ import annotations

from django.conf import settings
from django.core import signing

from errors.exceptions import UnauthenticatedError

_SALT = "voicebot.session-token"


def session_token_issue(*, session_id: str) -> str:
    return signing.TimestampSigner(salt=_SALT).sign(session_id)


def session_token_verify(token: str | None) -> str:
    """The session id the token was issued for, or UnauthenticatedError."""
    if not token:
        raise UnauthenticatedError("A session token is required. Create a session with POST /api/sessions.",
                                   context={"token": "missing"})
    try:
        return signing.TimestampSigner(salt=_SALT).unsign(token, max_age=settings.VOICEBOT_TOKEN_MAX_AGE)
    except signing.SignatureExpired:
        raise UnauthenticatedError("Your session token has expired. Start a new session.",
                                   context={"token": "expired"}) from None
    except signing.BadSignature:
        raise UnauthenticatedError("That session token is not valid. Start a new session.",
                                   context={"token": "forged"}) from None
