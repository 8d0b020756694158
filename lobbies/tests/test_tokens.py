"""Session tokens: signed, expiring, never stored."""
from __future__ import annotations

import pytest
from django.conf import settings
from django.core import signing
from django.test import override_settings

from errors.exceptions import UnauthenticatedError
from lobbies.tests.conftest import token_issued_ago
from lobbies.tokens import session_token_issue, session_token_verify

SESSION_ID = "0123456789abcdef0123456789abcdef"


def test_issued_token_verifies_to_its_session() -> None:
    token = session_token_issue(session_id=SESSION_ID)

    assert session_token_verify(token) == SESSION_ID


def test_tokens_of_two_sessions_differ() -> None:
    assert session_token_issue(session_id=SESSION_ID) != session_token_issue(session_id="f" * 32)


def test_token_is_safe_in_a_query_string() -> None:
    token = session_token_issue(session_id=SESSION_ID)

    assert all(ch.isalnum() or ch in "-_:" for ch in token)


@pytest.mark.parametrize("token", ["", None])
def test_missing_token_is_unauthenticated(token: str | None) -> None:
    with pytest.raises(UnauthenticatedError, match="required") as caught:
        session_token_verify(token)

    assert caught.value.close_code == 4001 and caught.value.recovery == "reauthenticate"


@pytest.mark.parametrize(
    "token",
    ["garbage", "a:b:c", SESSION_ID, f"{SESSION_ID}:1abc:not-the-signature", ":", "::::"],
)
def test_forged_token_is_unauthenticated(token: str) -> None:
    with pytest.raises(UnauthenticatedError, match="not valid"):
        session_token_verify(token)


def test_token_with_another_session_id_is_unauthenticated() -> None:
    token = session_token_issue(session_id=SESSION_ID)
    _, timestamp, signature = token.split(":")

    with pytest.raises(UnauthenticatedError, match="not valid"):
        session_token_verify(f"{'f' * 32}:{timestamp}:{signature}")


@pytest.mark.parametrize("position", [0, 33, -1], ids=["session-id", "timestamp", "signature"])
def test_tampered_token_is_unauthenticated(position: int) -> None:
    token = list(session_token_issue(session_id=SESSION_ID))
    token[position] = "A" if token[position] != "A" else "B"

    with pytest.raises(UnauthenticatedError, match="not valid"):
        session_token_verify("".join(token))


def test_token_signed_for_another_purpose_is_unauthenticated() -> None:
    token = signing.TimestampSigner(salt="some.other.purpose").sign(SESSION_ID)

    with pytest.raises(UnauthenticatedError, match="not valid"):
        session_token_verify(token)


def test_token_signed_with_another_secret_key_is_unauthenticated() -> None:
    with override_settings(SECRET_KEY="another-secret-key-of-another-server-0123456789"):
        token = session_token_issue(session_id=SESSION_ID)

    with pytest.raises(UnauthenticatedError, match="not valid"):
        session_token_verify(token)


def test_token_older_than_the_max_age_is_expired() -> None:
    token = token_issued_ago(SESSION_ID, 3601)

    with override_settings(VOICEBOT_TOKEN_MAX_AGE=3600), pytest.raises(UnauthenticatedError, match="expired"):
        session_token_verify(token)


def test_token_younger_than_the_max_age_is_valid() -> None:
    token = token_issued_ago(SESSION_ID, 3500)

    with override_settings(VOICEBOT_TOKEN_MAX_AGE=3600):
        assert session_token_verify(token) == SESSION_ID


def test_max_age_comes_from_settings() -> None:
    max_age = settings.VOICEBOT_TOKEN_MAX_AGE

    assert session_token_verify(token_issued_ago(SESSION_ID, max_age - 60)) == SESSION_ID
    with pytest.raises(UnauthenticatedError, match="expired"):
        session_token_verify(token_issued_ago(SESSION_ID, max_age + 60))
