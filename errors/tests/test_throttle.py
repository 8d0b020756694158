"""Rate windows: counts with explicit clocks, no sleeping."""
from __future__ import annotations

import pytest
from limits import parse

from errors.throttle import FixedWindow, MovingWindow, Sampler, rate_parse


def test_fixed_window_allows_the_amount_then_refuses_until_the_window_ends():
    window = FixedWindow(parse("3/1 second"))
    assert [window.hit(100.0), window.hit(100.2), window.hit(100.5)] == [None, None, None]
    assert window.hit(100.6) == pytest.approx(0.4)
    assert window.hit(100.99) == pytest.approx(0.01)
    # The window opened at the first hit (100.0); a hit at its end opens the next.
    assert not window.ended(100.99) and window.ended(101.0)
    assert window.hit(101.0) is None
    assert window.count == 1


def test_fixed_window_refused_hits_do_not_lengthen_it():
    window = FixedWindow(parse("1/10 seconds"))
    assert window.hit(0.0) is None
    for moment in (1.0, 5.0, 9.9):
        assert window.hit(moment) == pytest.approx(10.0 - moment)
    assert window.hit(10.0) is None


def test_first_hit_at_any_clock_value_opens_a_window():
    # time.monotonic() may be small on a fresh machine: the first hit is never refused.
    assert FixedWindow(parse("2/1 minute")).hit(0.5) is None
    assert MovingWindow(parse("2/1 minute")).hit(0.5) is None


def test_moving_window_counts_the_last_period_whatever_the_start():
    window = MovingWindow(parse("3/10 seconds"))
    assert [window.hit(0.0), window.hit(4.0), window.hit(8.0)] == [None, None, None]
    # A fourth within 10 s of the first is refused until the first leaves the window.
    assert window.hit(9.0) == pytest.approx(1.0)
    assert window.hit(10.0) is None  # the hit at 0.0 left; 4.0, 8.0, 10.0 remain
    assert window.hit(13.9) == pytest.approx(0.1)
    assert window.hit(14.0) is None
    assert list(window.hits) == [8.0, 10.0, 14.0]


def test_moving_window_refused_hits_are_not_remembered():
    window = MovingWindow(parse("1/1 second"))
    assert window.hit(0.0) is None
    for moment in (0.1, 0.5, 0.9):
        assert window.hit(moment) is not None
    assert len(window.hits) == 1
    assert window.hit(1.0) is None


def test_rate_parse_reads_the_settings_format_and_refuses_nonsense():
    assert rate_parse("400/1 second").amount == 400
    assert rate_parse("400/1 second") is rate_parse("400/1 second")
    with pytest.raises(ValueError):
        rate_parse("fast")


def test_sampler_folds_beyond_the_sample_with_the_latest_and_at_most_max_tags_tags():
    sampler = Sampler(lambda: "2/1 second", max_tags=3)
    admitted = [sampler.admit("group", n, now=100.0, tag=f"id{n}") for n in range(7)]
    assert admitted == [True, True, False, False, False, False, False]
    assert sampler.admit("other", "x", now=100.0, tag="other")  # keys are sampled apart
    [folded] = sampler.take_folded()
    assert (folded.count, folded.latest, folded.tags) == (5, 6, ["id2", "id3", "id4"])  # 2 counted, not tagged
    # A take starts the next fold afresh; untagged occurrences are counted alike.
    assert sampler.take_folded() == []
    assert not sampler.admit("group", "y", now=100.5)
    [folded] = sampler.take_folded()
    assert (folded.count, folded.latest, folded.tags) == (1, "y", [])
