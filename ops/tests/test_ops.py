"""Operational endpoints (/livez, /readyz, /metrics) and secrets kept out of logs."""
from __future__ import annotations

import logging
import logging.config
import sys
from typing import Any

import pytest
from django.conf import settings
from django.test import AsyncClient, Client, override_settings

from errors.testing import stored_events_sync
from ops.access_log import ScrubbedAccessLog
from errors import scrubbing
from errors.scrubbing import scrub_secrets, text_scrub
from ops.logging import ClientFaultFilter, ScrubSecretsFilter, logging_configure

TOKEN = "0123456789abcdef0123456789abcdef:1v2Xyz:AbCdEf-GhIjKl_MnOpQrStUvWxYz0123456789"
ERROR_BODY_FIELDS = {"code", "message", "category", "severity", "recovery", "correlation_id", "in_reply_to",
                     "retry_after"}


def unreachable_redis(port: int) -> dict[str, Any]:
    return {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer",
                        "CONFIG": {"hosts": [f"redis://127.0.0.1:{port}/0"]}}}


# --- /livez ------------------------------------------------------------------------


def test_livez_answers_ok_without_touching_the_database() -> None:
    # No database access is allowed in this test: a query would fail it.
    response = Client().get("/livez")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_livez_answers_ok_with_the_channel_layer_unreachable(dead_port: int) -> None:
    with override_settings(CHANNEL_LAYERS=unreachable_redis(dead_port)):
        response = Client().get("/livez")

    assert response.status_code == 200


# --- /readyz -----------------------------------------------------------------------


@pytest.mark.django_db
def test_readyz_answers_ok_when_every_dependency_answers() -> None:
    response = Client().get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "channel_layer": "ok"}}
    breakers = dict(item.split("=") for item in response["Circuit-Breakers"].split(", "))
    assert breakers["database"] == "closed" and breakers["channel_layer"] == "closed"


@pytest.mark.django_db
def test_readyz_is_not_ready_while_a_breaker_is_open_although_the_dependency_answers() -> None:
    from resilience.channel_layer import layer_dependency

    breaker = layer_dependency().breaker
    for _ in range(breaker.failure_threshold):
        breaker.record_failure(OSError("timed out"))
    try:
        response = Client().get("/readyz")
    finally:
        breaker.reset()

    assert response.status_code == 503
    body = response.json()
    assert body["checks"] == {"database": "ok", "channel_layer": "breaker_open"}
    assert body["code"] == "service_unavailable" and body["category"] == "network" and body["retry_after"] > 0
    assert "channel_layer=open" in response["Circuit-Breakers"]
    assert Client().get("/readyz").status_code == 200


@pytest.mark.django_db
def test_readyz_names_the_channel_layer_when_redis_is_unreachable(dead_port: int) -> None:
    with override_settings(CHANNEL_LAYERS=unreachable_redis(dead_port)):
        response = Client().get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert set(body) == ERROR_BODY_FIELDS | {"status", "checks"}
    assert body["status"] == "unavailable"
    assert body["checks"] == {"database": "ok", "channel_layer": "unavailable"}
    assert (body["code"], body["category"], body["recovery"]) == ("service_unavailable", "network", "retry")
    assert body["retry_after"] == settings.VOICEBOT_RETRY_AFTER and body["in_reply_to"] is None
    assert str(dead_port) not in body["message"] and "redis" not in body["message"].lower()
    [event] = stored_events_sync(correlation_id=body["correlation_id"])
    assert (event.group.code, event.group.category, event.where) == ("service_unavailable", "network", "readyz")


@pytest.mark.django_db
def test_readyz_tells_the_retry_after_of_the_settings(dead_port: int) -> None:
    with override_settings(CHANNEL_LAYERS=unreachable_redis(dead_port), VOICEBOT_RETRY_AFTER=7.0):
        response = Client().get("/readyz")

    assert response.status_code == 503
    assert response.json()["retry_after"] == 7.0
    assert response["Retry-After"] == "7"


@pytest.mark.django_db
def test_readyz_answers_ok_again_once_the_channel_layer_is_back(dead_port: int) -> None:
    with override_settings(CHANNEL_LAYERS=unreachable_redis(dead_port)):
        assert Client().get("/readyz").status_code == 503

    assert Client().get("/readyz").status_code == 200


@pytest.mark.django_db
async def test_readyz_names_the_database_when_new_connections_fail(unreachable_database: None) -> None:
    response = await AsyncClient().get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["checks"] == {"database": "unavailable", "channel_layer": "ok"}
    assert (body["code"], body["category"], body["recovery"]) == ("service_unavailable", "persistence", "retry")
    assert set(body) == ERROR_BODY_FIELDS | {"status", "checks"}


@pytest.mark.django_db
async def test_readyz_checks_the_database_afresh_on_every_call(request: pytest.FixtureRequest) -> None:
    client = AsyncClient()
    assert (await client.get("/readyz")).status_code == 200

    request.getfixturevalue("unreachable_database")
    response = await client.get("/readyz")

    assert response.status_code == 503, response.json()
    assert response.json()["checks"]["database"] == "unavailable"


# --- /metrics ----------------------------------------------------------------------


@pytest.mark.django_db
def test_metrics_expose_the_error_counter() -> None:
    client = Client()
    client.get("/api/no-such-endpoint")

    response = client.get("/metrics")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    text = response.content.decode()
    assert "# TYPE voicebot_errors_total counter" in text
    assert ('voicebot_errors_total{category="validation",code="not_found",severity="low",transport="http"}'
            in text)


@pytest.mark.django_db
def test_metrics_count_each_error() -> None:
    client = Client()

    def not_found_count() -> float:
        for line in client.get("/metrics").content.decode().splitlines():
            if line.startswith('voicebot_errors_total{category="validation",code="not_found"') and 'http' in line:
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    before = not_found_count()
    client.get("/api/nothing-here")
    client.get("/api/nothing-there")

    assert not_found_count() == before + 2


# --- Secrets in logs ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "scrubbed"),
    [
        (f"GET /ws/lobby/abc/?token={TOKEN} HTTP/1.1", "GET /ws/lobby/abc/?token=[scrubbed] HTTP/1.1"),
        (f"/ws/lobby/abc/?x=1&token={TOKEN}&y=2", "/ws/lobby/abc/?x=1&token=[scrubbed]&y=2"),
        (f"/ws/lobby/abc/?TOKEN={TOKEN}", "/ws/lobby/abc/?TOKEN=[scrubbed]"),
        (f"Authorization: Bearer {TOKEN}", "Authorization: Bearer [scrubbed]"),
        (f"authorization: bearer {TOKEN} sent", "authorization: bearer [scrubbed] sent"),
        ("join with password=hunter2 now", "join with password=[scrubbed] now"),
        ("GET /api/lobbies 200", "GET /api/lobbies 200"),
        (f"/ws/lobby/abc/?%74oken={TOKEN}", "/ws/lobby/abc/?%74oken=[scrubbed]"),
        (f"/ws/lobby/abc/?x=1;t%6Fk%65n={TOKEN}", "/ws/lobby/abc/?x=1;t%6Fk%65n=[scrubbed]"),
        ("/ws/lobby/abc/?token=", "/ws/lobby/abc/?token=[scrubbed]"),
        ("/api/lobbies?tokens=3&retoken=1&name=Ann", "/api/lobbies?tokens=3&retoken=1&name=Ann"),
        ("context={'password': 'x'} size=3", "context={'password': 'x'} size=3"),
        ("KeyError: refused api_key=sk-live-1 X-Api-Key=k2 client_secret=s3",
         "KeyError: refused api_key=[scrubbed] X-Api-Key=[scrubbed] client_secret=[scrubbed]"),
        (f"/ws/lobby/abc/?access_token={TOKEN}", "/ws/lobby/abc/?access_token=[scrubbed]"),
    ],
    ids=["query", "query-middle", "upper-case", "bearer", "lower-case-bearer", "password", "nothing-secret",
         "percent-encoded-name", "partly-encoded-name", "empty-value", "other-names", "other-pairs",
         "keys-in-a-traceback", "access-token"],
)
def test_scrub_secrets_removes_tokens_and_passwords(line: str, scrubbed: str) -> None:
    assert scrub_secrets(line) == scrubbed


def test_scrub_filter_rewrites_a_record_whose_arguments_hold_a_token() -> None:
    record = logging.LogRecord("voicebot", logging.INFO, __file__, 1, "socket %s from %s",
                               (f"/ws/lobby/abc/?token={TOKEN}", "127.0.0.1"), None)

    assert ScrubSecretsFilter().filter(record) is True

    assert record.getMessage() == "socket /ws/lobby/abc/?token=[scrubbed] from 127.0.0.1"
    assert TOKEN not in record.getMessage()


def test_scrub_filter_leaves_a_record_without_secrets_as_it_was() -> None:
    record = logging.LogRecord("voicebot", logging.INFO, __file__, 1, "%d sockets", (3,), None)

    assert ScrubSecretsFilter().filter(record) is True

    assert (record.msg, record.args) == ("%d sockets", (3,))


def _record_logged_under(caller: bool, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
                         ) -> logging.LogRecord:
    for switch in ("_srcfile", "logThreads", "logProcesses", "logMultiprocessing"):
        monkeypatch.setattr(logging, switch, getattr(logging, switch))  # put back after the test
    configured: list[dict[str, Any]] = []
    monkeypatch.setattr(logging.config, "dictConfig", configured.append)
    with override_settings(VOICEBOT_LOG_CALLER=caller):
        logging_configure(settings.LOGGING)
    assert configured == [settings.LOGGING]
    with caplog.at_level(logging.WARNING, logger="voicebot.tests.caller"):
        logging.getLogger("voicebot.tests.caller").warning("peer_not_found correlation_id=%s", "c0ffee")
    [record] = [record for record in caplog.records if record.name == "voicebot.tests.caller"]
    return record


def test_records_collect_no_caller_thread_or_process_by_default(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    record = _record_logged_under(False, monkeypatch, caplog)

    assert (record.funcName, record.lineno) == ("(unknown function)", 0)
    assert (record.threadName, record.processName) == (None, None)
    # The project's own format names none of them: its lines read as before.
    line = logging.Formatter(settings.LOGGING["formatters"]["plain"]["format"]).format(record)
    assert line.endswith(" WARNING voicebot.tests.caller peer_not_found correlation_id=c0ffee")


def test_records_collect_their_caller_thread_and_process_when_asked(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    record = _record_logged_under(True, monkeypatch, caplog)

    assert record.funcName == "_record_logged_under"
    assert record.filename == "test_ops.py"
    assert record.threadName == "MainThread" and record.processName is not None


def test_the_console_handler_scrubs_every_log_line() -> None:
    handler_filters = settings.LOGGING["handlers"]["console"]["filters"]
    filter_factories = {name: spec["()"] for name, spec in settings.LOGGING["filters"].items()}

    assert [filter_factories[name] for name in handler_filters] == ["ops.logging.ScrubSecretsFilter"]


@pytest.mark.parametrize(
    ("protocol", "action", "details", "expected"),
    [
        ("http", "complete",
         {"client": "127.0.0.1:5000", "method": "GET", "path": f"/api/lobbies?token={TOKEN}", "status": 200,
          "size": 17},
         '127.0.0.1:5000 "GET /api/lobbies?token=[scrubbed]" 200 17'),
        ("websocket", "connecting", {"client": "127.0.0.1:5001", "path": f"/ws/lobby/abc/?token={TOKEN}"},
         '127.0.0.1:5001 "WSCONNECTING /ws/lobby/abc/?token=[scrubbed]" - -'),
        ("websocket", "connected", {"client": "127.0.0.1:5001", "path": f"/ws/lobby/abc/?token={TOKEN}"},
         '127.0.0.1:5001 "WSCONNECT /ws/lobby/abc/?token=[scrubbed]" - -'),
        ("websocket", "rejected", {"client": "127.0.0.1:5001", "path": f"/ws/lobby/abc/?token={TOKEN}"},
         '127.0.0.1:5001 "WSREJECT /ws/lobby/abc/?token=[scrubbed]" - -'),
        ("websocket", "disconnected", {"client": "127.0.0.1:5001", "path": f"/ws/lobby/abc/?token={TOKEN}"},
         '127.0.0.1:5001 "WSDISCONNECT /ws/lobby/abc/?token=[scrubbed]" - -'),
    ],
    ids=["http", "ws-connecting", "ws-connected", "ws-rejected", "ws-disconnected"],
)
def test_access_log_writes_scrubbed_lines_through_logging(
    caplog: pytest.LogCaptureFixture, protocol: str, action: str, details: dict[str, Any], expected: str
) -> None:
    caplog.set_level(logging.INFO, logger="voicebot.access")

    ScrubbedAccessLog()(protocol, action, details)

    [record] = [r for r in caplog.records if r.name == "voicebot.access"]
    assert record.getMessage() == expected
    assert TOKEN not in caplog.text


def test_the_log_filter_and_the_event_scrubber_share_one_list_of_secrets() -> None:
    traceback = "Traceback ...\nRuntimeError: provider refused api_key=sk-live-1 for token=abc"
    record = logging.LogRecord("voicebot", logging.ERROR, __file__, 1, traceback, None, None)
    ScrubSecretsFilter().filter(record)
    assert record.getMessage() == text_scrub(traceback) == (
        "Traceback ...\nRuntimeError: provider refused api_key=[scrubbed] for token=[scrubbed]")


@pytest.mark.parametrize(
    ("line", "scrubbed"),
    [
        (f"GET /ws/lobby/abc/?access_token={TOKEN} HTTP/1.1", "GET /ws/lobby/abc/?access_token=[scrubbed] HTTP/1.1"),
        (f"GET /api/{TOKEN} HTTP/1.1", "GET /api/[scrubbed] HTTP/1.1"),
        (f"GET /api/lobbies/{TOKEN.replace(':', '%3A')}/ 404", "GET /api/lobbies/[scrubbed]/ 404"),
        ("GET /api/lobbies/0123456789abcdef0123456789abcdef 404", "GET /api/lobbies/0123456789abcdef0123456789abcdef 404"),
    ],
    ids=["access-token-parameter", "token-in-path", "encoded-token-in-path", "bare-session-id-is-kept"],
)
def test_scrub_secrets_removes_tokens_under_other_names_and_outside_parameters(line: str, scrubbed: str) -> None:
    assert scrub_secrets(line) == scrubbed


@pytest.mark.parametrize("name", ["token", "ToKeN", "%74oken", "access_token", "api-Key", "\u017fecret", "lobby", "sid"])
@pytest.mark.parametrize("value", [TOKEN, TOKEN.replace(":", "%3a"), "hunter2", ""])
def test_lines_that_skip_the_substitutions_come_out_as_the_substitutions_would_leave_them(
    name: str, value: str
) -> None:
    # Lines without a hint of a secret are given back at once; the rest, and all non-ASCII text,
    # go through the three substitutions. Either way the line is what the substitutions make of it.
    for line in (f"GET /ws/?{name}={value} HTTP/1.1", f"{name}={value}", f"Authorization: Bearer {value}",
                 f"bad_frame where=join context={{'{name}': '{value}'}}", f"/lobbies/{value}/ {name}"):
        expected = scrubbing._session_tokens_scrub(scrubbing._named_secrets_scrub(line))
        assert scrub_secrets(line) == expected, line


def test_uvicorns_invalid_utf8_traceback_becomes_a_warning_without_traceback() -> None:
    try:
        b"\xff".decode()
    except UnicodeDecodeError:
        record = logging.LogRecord("uvicorn.error", logging.ERROR, __file__, 1,
                                   "Invalid UTF-8 sequence received from client.", None, sys.exc_info())
    assert ClientFaultFilter().filter(record)
    assert (record.levelno, record.levelname, record.exc_info) == (logging.WARNING, "WARNING", None)
    other = logging.LogRecord("uvicorn.error", logging.ERROR, __file__, 1, "Exception in ASGI application", None, None)
    assert ClientFaultFilter().filter(other) and other.levelno == logging.ERROR
