"""The per-socket frame window: counts with explicit clocks, no sleeping."""
from __future__ import annotations

import pytest
from limits import parse

from signaling.throttle import FrameWindow, rate_parse


def test_allows_the_amount_then_refuses_until_the_window_ends():
    window = FrameWindow(parse("3/1 second"))
    assert [window.hit(100.0), window.hit(100.2), window.hit(100.5)] == [None, None, None]
    assert window.hit(100.6) == pytest.approx(0.4)
    assert window.hit(100.99) == pytest.approx(0.01)
    # The window opened at the first hit (100.0); a hit at its end opens the next.
    assert window.hit(101.0) is None
    assert window.count == 1


def test_a_refused_hit_does_not_lengthen_the_window():
    window = FrameWindow(parse("1/10 seconds"))
    assert window.hit(0.0) is None
    for moment in (1.0, 5.0, 9.9):
        assert window.hit(moment) == pytest.approx(10.0 - moment)
    assert window.hit(10.0) is None


def test_first_hit_at_any_clock_value_opens_a_window():
    # time.monotonic() may be small on a fresh machine: the first hit is never refused.
    window = FrameWindow(parse("2/1 minute"))
    assert window.hit(0.5) is None
    assert window.period == 60.0


def test_rate_parse_reads_the_settings_format_and_refuses_nonsense():
    assert rate_parse("400/1 second").amount == 400
    assert rate_parse("400/1 second") is rate_parse("400/1 second")
    with pytest.raises(ValueError):
        rate_parse("fast")
