"""Fixtures of the lobbies tests: the JSON API client and participants made through services."""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.test import Client

from lobbies.models import Participant

# The fields of every HTTP error body, and nothing else.
ERROR_BODY_FIELDS = {"code", "message", "category", "severity", "recovery", "correlation_id", "in_reply_to",
                     "retry_after"}


@pytest.fixture(autouse=True)
def session_rate_limit_reset() -> Iterator[None]:
    """Each test starts with the session and lobby budgets untouched."""
    from lobbies.views import _lobby_rate_limiter, _session_rate_limiter

    for limiter in (_session_rate_limiter, _lobby_rate_limiter):
        limiter.storage.reset()
    yield
    for limiter in (_session_rate_limiter, _lobby_rate_limiter):
        limiter.storage.reset()


class Api:
    """Django's test client speaking JSON to /api/."""

    def __init__(self) -> None:
        self.client = Client()

    @staticmethod
    def _headers(token: str | None, headers: dict[str, str] | None) -> dict[str, str]:
        merged = dict(headers or {})
        if token is not None:
            merged["Authorization"] = f"Bearer {token}"
        return merged

    def get(self, path: str, *, token: str | None = None, headers: dict[str, str] | None = None) -> Any:
        return self.client.get(path, headers=self._headers(token, headers))

    def post(
        self,
        path: str,
        body: Any = None,
        *,
        raw: bytes | str | None = None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        data = raw if raw is not None else ("" if body is None else json.dumps(body))
        return self.client.post(path, data=data, content_type="application/json",
                                headers=self._headers(token, headers))

    def request(self, method: str, path: str, *, token: str | None = None) -> Any:
        return self.client.generic(method, path, headers=self._headers(token, None))


@pytest.fixture
def api() -> Api:
    return Api()


def assert_error_body(response: Any, *, status: int, code: str) -> dict[str, Any]:
    """The response is the protocol's HTTP error body, exactly its fields."""
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == ERROR_BODY_FIELDS, body
    assert body["code"] == code, body
    assert body["in_reply_to"] is None
    assert isinstance(body["message"], str) and body["message"]
    assert len(body["correlation_id"]) == 32
    for internal in ("Traceback", "File \"", "Error:", "SELECT", "django.", "lobbies.", "errors."):
        assert internal not in body["message"], body["message"]
    return body


@pytest.fixture
def join(db: None) -> Callable[..., Participant]:
    """Puts a session into a lobby through ``lobby_join``; returns its participant."""
    from lobbies.services import lobby_join

    counter = iter(range(1_000_000))

    def make(lobby_id: str, session_id: str, name: str = "Ann", *, password: str | None = None,
             channel_name: str | None = None, instance_id: str = "instance-a") -> Participant:
        result = lobby_join(
            lobby_id=lobby_id,
            session_id=session_id,
            name=name,
            password=password,
            channel_name=channel_name or f"test.channel!{next(counter)}",
            instance_id=instance_id,
        )
        return result.participant

    return make


def token_issued_ago(session_id: str, seconds: int) -> str:
    """A genuine token of ``session_id``, signed as if ``seconds`` ago."""
    import time

    from django.core import signing

    from lobbies.tokens import _SALT

    class BackdatedSigner(signing.TimestampSigner):
        def timestamp(self) -> str:
            return signing.b62_encode(int(time.time()) - seconds)

    return BackdatedSigner(salt=_SALT).sign(session_id)


class StoredErrors:
    """What the error boundary stored of the errors a test caused."""

    def event(self, body: dict[str, Any], *, transport: str = "http") -> Any:
        """The one stored event of an error the client was told about, matching what it was told."""
        from errors.testing import stored_events_sync

        [event] = stored_events_sync(correlation_id=body["correlation_id"])
        assert (event.group.code, event.group.category, event.group.severity) == (
            body["code"], body["category"], body["severity"]
        )
        assert event.message == body["message"]
        assert event.transport == transport
        return event


@pytest.fixture
def stored_errors(db: None) -> StoredErrors:
    return StoredErrors()


