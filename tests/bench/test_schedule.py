"""Open-model pacing."""

from __future__ import annotations

import pytest

from meshlb.bench.schedule import RateSchedule


def test_requests_are_due_at_start_plus_index_over_rate() -> None:
    schedule = RateSchedule(rate=1000, start_ns=5_000_000)
    assert [schedule.intended_ns(i) for i in range(3)] == [5_000_000, 6_000_000, 7_000_000]
    assert schedule.due(4_999_999) == 0
    assert schedule.due(5_000_000) == 1
    assert schedule.due(5_999_999) == 1
    assert schedule.due(6_000_000) == 2
    assert schedule.due(5_000_000 + 1_000_000_000) == 1001


def test_fractional_rates_are_exact_over_time() -> None:
    schedule = RateSchedule(rate=3, start_ns=0)
    assert schedule.due(10 * 1_000_000_000) == 31


def test_the_rate_must_be_positive() -> None:
    with pytest.raises(ValueError):
        RateSchedule(rate=0, start_ns=0)
