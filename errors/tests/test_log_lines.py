"""Each error's log line: its own within its group's sample, one line per write for the rest of a flood."""
from __future__ import annotations

import logging
from typing import Any

import pytest
from django.conf import settings

from errors.boundary import report_error
from errors.exceptions import InvalidMessageError, RateLimitedError
from errors.recorder import get_recorder
from errors.testing import errors_flush, stored_groups_sync
from errors.throttle import rate_parse

pytestmark = pytest.mark.django_db


def flood(count: int, exc_type: type[Exception] = RateLimitedError) -> list[str]:
    """``count`` errors of one group, as the WebSocket boundary reports them; their correlation ids."""
    return [report_error(exc_type(), transport="websocket", where="ping")[1].correlation_id for _ in range(count)]


def error_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == "voicebot.errors"]


@pytest.fixture
def sample() -> int:
    """Occurrences of one group the process recorder keeps whole per window (its setting at start)."""
    return rate_parse(settings.VOICEBOT_ERROR_SAMPLE_RATE).amount


def test_within_the_sample_each_occurrence_has_its_own_line(caplog: pytest.LogCaptureFixture, sample: int) -> None:
    caplog.set_level(logging.INFO, logger="voicebot.errors")
    ids = flood(sample)

    lines = error_lines(caplog)
    assert [line.correlation_id for line in lines] == ids  # type: ignore[attr-defined]
    assert lines[0].getMessage() == f"rate_limited correlation_id={ids[0]} where=ping lobby=None session=None context={{}}"
    assert lines[0].levelno == logging.INFO


def test_beyond_the_sample_a_flood_is_one_line_per_write_with_its_count_and_ids(
    caplog: pytest.LogCaptureFixture, sample: int
) -> None:
    caplog.set_level(logging.INFO, logger="voicebot.errors")
    ids = flood(sample + 40)

    assert len(error_lines(caplog)) == sample  # the 40 beyond the sample: no line yet
    errors_flush()
    [folded] = error_lines(caplog)[sample:]
    assert folded.occurrences == 40 and folded.correlation_id == ids[-1]  # type: ignore[attr-defined]
    assert folded.getMessage() == (
        f"rate_limited x40 beyond the sample, not logged one by one (line 1 of 1): correlation_ids={','.join(ids[sample:])};"
        " the latest where=ping lobby=None session=None"
    )
    # The next write has nothing more to say; the group's count is exact.
    errors_flush()
    assert len(error_lines(caplog)) == sample + 1
    [group] = stored_groups_sync()
    assert group.count == sample + 40


def test_every_correlation_id_given_out_is_in_the_log_a_hundred_to_a_line(
    caplog: pytest.LogCaptureFixture, sample: int
) -> None:
    caplog.set_level(logging.INFO, logger="voicebot.errors")
    ids = flood(sample + 250)
    errors_flush()

    lines = [line.getMessage() for line in error_lines(caplog)][sample:]
    assert [line.split("(", 1)[1].split(")")[0] for line in lines] == ["line 1 of 3", "line 2 of 3", "line 3 of 3"]
    logged = [listed for line in lines for listed in line.split("correlation_ids=")[1].split(";")[0].split(",")]
    assert logged == ids[sample:]


def test_ids_beyond_what_the_recorder_keeps_are_counted_on_the_last_line(
    caplog: pytest.LogCaptureFixture, sample: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # VOICEBOT_ERROR_FOLDED_IDS_MAX, which the process recorder read when it was made.
    monkeypatch.setattr(get_recorder().sampler, "max_tags", 30)
    caplog.set_level(logging.INFO, logger="voicebot.errors")
    ids = flood(sample + 45)
    errors_flush()

    [folded] = [line.getMessage() for line in error_lines(caplog)][sample:]
    assert f"correlation_ids={','.join(ids[sample:sample + 30])} and 15 not listed;" in folded
    assert stored_groups_sync()[0].count == sample + 45


def test_groups_are_sampled_apart(caplog: pytest.LogCaptureFixture, sample: int) -> None:
    caplog.set_level(logging.INFO, logger="voicebot.errors")
    flood(sample + 5)
    other = flood(3, InvalidMessageError)

    assert [line.correlation_id for line in error_lines(caplog)][sample:] == other  # type: ignore[attr-defined]


def test_every_occurrence_has_its_own_line_when_asked(
    caplog: pytest.LogCaptureFixture, sample: int, settings: Any
) -> None:
    settings.VOICEBOT_ERROR_LOG_EVERY = True
    caplog.set_level(logging.INFO, logger="voicebot.errors")
    ids = flood(sample + 10)
    errors_flush()

    assert [line.correlation_id for line in error_lines(caplog)] == ids  # type: ignore[attr-defined]
    assert stored_groups_sync()[0].count == sample + 10


def test_an_error_is_logged_when_the_recorder_fails(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(report: Any) -> bool:
        raise RuntimeError("recorder down")

    monkeypatch.setattr(get_recorder(), "record", broken)
    caplog.set_level(logging.INFO, logger="voicebot.errors")
    [correlation_id] = flood(1)

    messages = [line.getMessage() for line in error_lines(caplog)]
    assert messages[0] == f"error recorder failed for correlation_id={correlation_id}"
    assert messages[1].startswith(f"rate_limited correlation_id={correlation_id} ")


def test_an_unexpected_exception_is_logged_with_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="voicebot.errors")
    try:
        raise ZeroDivisionError("boom")
    except ZeroDivisionError as exc:
        _, report = report_error(exc, transport="http", where="lobby_list")

    [line] = error_lines(caplog)
    assert line.levelno == logging.ERROR and line.exc_info is not None and line.exc_info[1] is report.cause
