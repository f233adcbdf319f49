"""Rise/fall counting, with a fake clock."""

from __future__ import annotations

import pytest

from meshlb.health.risefall import RiseFall, check_delay


def test_a_healthy_endpoint_falls_only_after_fall_consecutive_failures() -> None:
    rf = RiseFall(rise=2, fall=3, healthy=True, now=0.0)
    assert not rf.observe(False, 1.0)
    assert not rf.observe(False, 2.0)
    assert rf.healthy
    assert rf.observe(False, 3.0)
    assert not rf.healthy and rf.since == 3.0


def test_a_success_between_failures_restarts_the_fall_count() -> None:
    rf = RiseFall(rise=2, fall=3)
    for t, ok in enumerate([False, False, True, False, False]):
        assert not rf.observe(ok, float(t))
    assert rf.healthy
    assert rf.observe(False, 9.0)


def test_an_unhealthy_endpoint_rises_after_rise_consecutive_successes() -> None:
    rf = RiseFall(rise=2, fall=1, healthy=True)
    assert rf.observe(False, 1.0)
    assert not rf.observe(True, 2.0)
    assert not rf.observe(False, 3.0)  # the streak is broken
    assert not rf.observe(True, 4.0)
    assert rf.observe(True, 5.0)
    assert rf.healthy and rf.since == 5.0


def test_repeated_results_in_the_same_state_never_report_a_change() -> None:
    rf = RiseFall(rise=1, fall=1)
    assert not any(rf.observe(True, float(t)) for t in range(10))
    assert rf.observe(False, 10.0)
    assert not any(rf.observe(False, float(t)) for t in range(11, 20))
    assert rf.checks == 20


def test_an_endpoint_that_starts_unhealthy_is_admitted_by_its_first_success() -> None:
    rf = RiseFall(rise=3, fall=3, healthy=False, now=0.0)
    assert rf.observe(True, 0.5)
    assert rf.healthy


def test_the_first_success_shortcut_is_lost_after_a_failure() -> None:
    rf = RiseFall(rise=3, fall=3, healthy=False, now=0.0)
    assert not rf.observe(False, 1.0)
    assert not rf.observe(True, 2.0)
    assert not rf.observe(True, 3.0)
    assert rf.observe(True, 4.0)


def test_a_recovered_endpoint_needs_the_full_rise_again() -> None:
    rf = RiseFall(rise=2, fall=1, healthy=False)
    assert rf.observe(True, 1.0)  # first success of a fresh endpoint
    assert rf.observe(False, 2.0)
    assert not rf.observe(True, 3.0)
    assert rf.observe(True, 4.0)


def test_thresholds_must_be_positive() -> None:
    with pytest.raises(ValueError):
        RiseFall(rise=0, fall=1)


def test_repr_shows_state_and_counts() -> None:
    rf = RiseFall(rise=2, fall=3)
    rf.observe(False, 1.0)
    assert repr(rf) == "<RiseFall healthy since=0 ok=0/2 fail=1/3 checks=1>"


def test_check_delay_uses_the_unhealthy_interval_and_stays_within_jitter() -> None:
    assert check_delay(True, 5.0, 1.0, 0.0, 0.7) == 5.0
    assert check_delay(False, 5.0, 1.0, 0.0, 0.7) == 1.0
    assert check_delay(True, 10.0, 10.0, 0.2, 0.0) == pytest.approx(8.0)
    assert check_delay(True, 10.0, 10.0, 0.2, 0.5) == pytest.approx(10.0)
    assert check_delay(True, 10.0, 10.0, 0.2, 0.999999) == pytest.approx(12.0, abs=1e-4)
