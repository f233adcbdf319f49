"""Passive outlier detection, with a fake clock: thresholds, growth, cap, half-open, latency."""

from __future__ import annotations

import msgspec
import pytest

from meshlb.health.config import OutlierConfig
from meshlb.health.outcome import Fault
from meshlb.health.outlier import ACTIVE, EJECTED, PROBING, OutlierDetector, Verdict, percentile
from meshlb.model import Endpoint


def endpoints(n: int) -> list[Endpoint]:
    return [Endpoint("c", "127.0.0.1", 9000 + i) for i in range(n)]


def detector(n: int = 4, **options: object) -> tuple[OutlierDetector, list[Endpoint]]:
    eps = endpoints(n)
    config = msgspec.structs.replace(OutlierConfig(), **options)
    return OutlierDetector(config, eps, now=0.0), eps


def fail(
    d: OutlierDetector, e: Endpoint, times: int, outcome: int = 503, now: float = 1.0
) -> Verdict | None:
    verdict = None
    for _ in range(times):
        verdict = d.observe(e, outcome, 0.001, now) or verdict
    return verdict


def test_consecutive_gateway_failures_eject_at_the_threshold() -> None:
    d, (a, *_) = detector(consecutive_gateway_failure=3)
    assert fail(d, a, 2) is None
    verdict = fail(d, a, 1, now=2.0)
    assert verdict is not None and verdict.state is EJECTED
    assert verdict.until == 2.0 + 30.0 and verdict.ejections == 1
    assert "3 consecutive gateway failures (last: 503)" in verdict.reason


def test_connect_failures_resets_and_timeouts_are_gateway_failures() -> None:
    for fault in (Fault.CONNECT, Fault.RESET, Fault.TIMEOUT):
        d, (a, *_) = detector(consecutive_gateway_failure=2)
        verdict = fail(d, a, 2, outcome=fault)
        assert verdict is not None, fault
    d, (a, *_) = detector()
    verdict = fail(d, a, 3, outcome=Fault.CONNECT)
    assert verdict is not None and "(last: connect failure)" in verdict.reason


def test_a_success_resets_the_streak() -> None:
    d, (a, *_) = detector(consecutive_gateway_failure=3)
    fail(d, a, 2)
    assert d.observe(a, 200, 0.001, 1.0) is None
    assert fail(d, a, 2) is None


def test_a_4xx_is_the_clients_problem_and_counts_as_success() -> None:
    d, (a, *_) = detector(consecutive_gateway_failure=2)
    fail(d, a, 1)
    d.observe(a, 404, 0.001, 1.0)
    assert fail(d, a, 1) is None


def test_plain_500s_trip_consecutive_5xx_but_reset_the_gateway_streak() -> None:
    d, (a, *_) = detector(consecutive_gateway_failure=3, consecutive_5xx=5)
    fail(d, a, 2, outcome=502)
    assert fail(d, a, 1, outcome=500) is None  # gateway streak broken by a plain 500
    assert fail(d, a, 1, outcome=502) is None
    verdict = fail(d, a, 1, outcome=500)
    assert verdict is not None and "5 consecutive 5xx" in verdict.reason


def test_zero_disables_a_threshold() -> None:
    d, (a, *_) = detector(consecutive_gateway_failure=0, consecutive_5xx=0)
    assert fail(d, a, 50) is None


def test_cancelled_attempts_say_nothing_about_the_endpoint() -> None:
    d, (a, *_) = detector(consecutive_gateway_failure=2)
    fail(d, a, 1)
    assert fail(d, a, 5, outcome=Fault.CANCELLED) is None
    assert fail(d, a, 1) is not None


def test_ejection_time_grows_with_the_count_up_to_the_maximum() -> None:
    d, (a, *_) = detector(
        consecutive_gateway_failure=1, base_ejection_time=10.0, max_ejection_time=25.0
    )
    durations = []
    now = 0.0
    for _ in range(4):
        verdict = fail(d, a, 1, now=now)
        assert verdict is not None
        durations.append(verdict.until - now)
        now = verdict.until
        d.sweep(now)  # -> probing
        assert d.admit(a, now)
    assert durations == [10.0, 20.0, 25.0, 25.0]


def test_after_the_ejection_one_probe_request_is_admitted_and_its_success_readmits() -> None:
    d, (a, b, *_) = detector(consecutive_gateway_failure=1)
    fail(d, a, 1, now=0.0)
    assert d.sweep(29.0) == []
    assert d.stats[a].state is EJECTED
    (half_open,) = d.sweep(30.0)
    assert half_open.state is PROBING and "admitting one probe request" in half_open.reason
    assert d.probing == 1
    assert d.admit(b, 30.0)  # other endpoints are never gated
    assert d.admit(a, 30.0)
    assert not d.admit(a, 30.1)  # only one probe in flight
    verdict = d.observe(a, 200, 0.002, 30.2)
    assert verdict is not None and verdict.state is ACTIVE
    assert verdict.reason == "probe request succeeded"
    assert d.probing == 0 and d.admit(a, 30.3)


def test_a_failed_probe_re_ejects_with_a_longer_time() -> None:
    d, (a, *_) = detector(consecutive_gateway_failure=1)
    fail(d, a, 1, now=0.0)
    d.sweep(30.0)
    assert d.admit(a, 30.0)
    verdict = d.observe(a, Fault.CONNECT, 0.0, 30.5)
    assert verdict is not None and verdict.state is EJECTED
    assert verdict.ejections == 2 and verdict.until == 30.5 + 60.0
    assert verdict.reason == "probe request failed: connect failure"


def test_a_cancelled_probe_frees_the_slot_and_so_does_time() -> None:
    d, (a, *_) = detector(consecutive_gateway_failure=1)
    fail(d, a, 1, now=0.0)
    d.sweep(30.0)
    assert d.admit(a, 30.0)
    d.observe(a, Fault.CANCELLED, 0.0, 30.1)
    assert d.admit(a, 30.2)
    assert not d.admit(a, 31.0)
    assert d.next_due <= 40.2
    d.sweep(40.2)
    assert d.admit(a, 40.3)


def test_outcomes_of_requests_sent_before_the_ejection_are_ignored() -> None:
    d, (a, *_) = detector(consecutive_gateway_failure=1)
    fail(d, a, 1, now=0.0)
    assert d.observe(a, 200, 0.001, 1.0) is None
    assert fail(d, a, 3, now=2.0) is None
    assert d.stats[a].ejections == 1


def test_the_cap_keeps_most_endpoints_in_service() -> None:
    d, eps = detector(n=4, consecutive_gateway_failure=1, max_ejection_percent=50.0)
    verdicts = [fail(d, e, 1) for e in eps]
    assert [v is not None for v in verdicts] == [True, True, False, False]
    assert d.refused_by_cap == 2


def test_one_endpoint_may_always_be_ejected_and_zero_percent_disables() -> None:
    d, eps = detector(n=3, consecutive_gateway_failure=1, max_ejection_percent=10.0)
    assert fail(d, eps[0], 1) is not None
    assert fail(d, eps[1], 1) is None
    d, eps = detector(n=3, consecutive_gateway_failure=1, max_ejection_percent=0.0)
    assert fail(d, eps[0], 1) is None


def test_a_probing_endpoint_still_counts_against_the_cap() -> None:
    d, (a, b) = detector(n=2, consecutive_gateway_failure=1, max_ejection_percent=50.0)
    fail(d, a, 1, now=0.0)
    d.sweep(30.0)
    assert fail(d, b, 1, now=30.5) is None


def test_restore_ends_an_ejection_early() -> None:
    d, (a, b, *_) = detector(consecutive_gateway_failure=1)
    fail(d, a, 1)
    verdict = d.restore(a, 5.0, "active checks pass")
    assert verdict is not None and verdict.state is ACTIVE
    assert d.restore(b, 5.0, "healthy anyway") is None


def test_ejection_counts_decay_once_the_endpoint_stayed_good_as_long_as_it_was_out() -> None:
    d, (a, *_) = detector(consecutive_gateway_failure=1, interval=10.0)
    fail(d, a, 1, now=0.0)
    d.sweep(30.0)
    d.admit(a, 30.0)
    d.observe(a, 200, 0.001, 30.0)  # active again, count 1
    d.sweep(40.0)  # 10 s active < 30 s ejection: no decay
    assert d.stats[a].ejections == 1
    d.sweep(60.0)
    assert d.stats[a].ejections == 0


def test_success_rate_ejection_over_a_window() -> None:
    d, (a, b, *_) = detector(
        success_rate_threshold=90.0,
        success_rate_min_requests=20,
        consecutive_5xx=0,
        consecutive_gateway_failure=0,
    )
    for i in range(20):
        d.observe(a, 503 if i % 4 == 0 else 200, 0.001, 1.0)  # 75 % success
        d.observe(b, 200, 0.001, 1.0)
    (verdict,) = d.sweep(10.0)
    assert verdict.endpoint is a and "success rate 75.0% over 20 requests" in verdict.reason


def test_success_rate_needs_enough_requests_and_windows_reset() -> None:
    d, (a, *_) = detector(success_rate_threshold=90.0, success_rate_min_requests=20)
    for _ in range(9):
        d.observe(a, 500, 0.001, 1.0)
        d.observe(a, 200, 0.001, 1.0)
    assert d.sweep(10.0) == []
    d.observe(a, 500, 0.001, 11.0)
    assert d.stats[a].requests == 1


def feed_latency(d: OutlierDetector, e: Endpoint, seconds: float, n: int = 30) -> None:
    for _ in range(n):
        d.observe(e, 200, seconds, 1.0)


def test_an_endpoint_much_slower_than_the_median_is_ejected() -> None:
    d, (a, b, c, slow) = detector(n=4)
    for e in (a, b, c):
        feed_latency(d, e, 0.020)
    feed_latency(d, slow, 0.100)
    (verdict,) = d.sweep(10.0)
    assert verdict.endpoint is slow
    assert verdict.reason == "p90 latency 100.0 ms > 3 x median 20.0 ms"


def test_latency_ejection_needs_min_requests_min_hosts_and_the_floor() -> None:
    d, (a, b, c, slow) = detector(n=4)
    for e in (a, b, c):
        feed_latency(d, e, 0.020)
    feed_latency(d, slow, 0.100, n=10)  # below latency_min_requests
    assert d.sweep(10.0) == []
    d, (a, slow) = detector(n=2)
    feed_latency(d, a, 0.020)
    feed_latency(d, slow, 0.100)
    assert d.sweep(10.0) == []  # two hosts make no median
    d, (a, b, slow) = detector(n=3, latency_floor=0.010)
    for e in (a, b):
        feed_latency(d, e, 0.001)
    feed_latency(d, slow, 0.008)  # 8x slower but under the floor
    assert d.sweep(10.0) == []


def test_a_few_slow_requests_do_not_move_the_p90() -> None:
    d, (a, b, c) = detector(n=3)
    for e in (a, b):
        feed_latency(d, e, 0.020)
    feed_latency(d, c, 0.020, n=27)
    feed_latency(d, c, 1.0, n=2)
    assert d.sweep(10.0) == []


def test_latency_factor_zero_disables_latency_ejection() -> None:
    d, (a, b, c, slow) = detector(n=4, latency_factor=0.0)
    for e in (a, b, c):
        feed_latency(d, e, 0.020)
    feed_latency(d, slow, 1.0)
    assert d.sweep(10.0) == []


def test_next_due_tracks_the_interval_and_the_earliest_ejection_end() -> None:
    d, (a, *_) = detector(consecutive_gateway_failure=1, base_ejection_time=5.0)
    assert d.next_due == 10.0
    fail(d, a, 1, now=1.0)
    assert d.next_due == 6.0
    d.sweep(6.0)
    assert d.next_due == 10.0


def test_ejections_are_counted_by_the_kind_of_evidence() -> None:
    d, (a, b, *_) = detector(consecutive_gateway_failure=2, consecutive_5xx=3)
    fail(d, a, 2, outcome=Fault.RESET)
    fail(d, b, 3, outcome=500)
    d.sweep(31.0)
    assert d.admit(a, 31.0)
    d.observe(a, 503, 0.001, 31.1)
    assert d.ejections_by_reason == {
        "consecutive_gateway_failure": 1,
        "consecutive_5xx": 1,
        "probe_failed": 1,
    }


def test_an_endpoint_kept_across_a_reload_stays_ejected_with_its_count() -> None:
    (a, b) = endpoints(2)
    a.ejected_until, a.ejection_count, a.last_reason = 50.0, 2, "ejected for 60s"
    d = OutlierDetector(OutlierConfig(), [a, b], now=20.0)
    assert d.stats[a].state is EJECTED and d.next_due == 30.0  # the first interval sweep
    d.sweep(30.0)
    assert d.next_due == 40.0
    (verdict,) = d.sweep(50.0)
    assert verdict.state is PROBING and verdict.ejections == 2


def test_repr_counts_states() -> None:
    d, (a, *_) = detector(consecutive_gateway_failure=1)
    fail(d, a, 1)
    assert repr(d) == (
        "<OutlierDetector 4 endpoints ejected=1 probing=0 ejections=1 refused_by_cap=0>"
    )


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [([1.0], 90, 1.0), ([3.0, 1.0, 2.0], 50, 2.0), (list(range(1, 101)), 90, 90)],
)
def test_percentile_is_nearest_rank(values: list[float], q: float, expected: float) -> None:
    assert percentile(values, q) == expected


def test_a_readmitted_endpoint_is_judged_only_on_what_it_does_afterwards() -> None:
    d, (a, b, c, slow) = detector(n=4)
    for e in (a, b, c):
        feed_latency(d, e, 0.020)
    feed_latency(d, slow, 0.100)
    assert fail(d, slow, 3, outcome=Fault.TIMEOUT, now=2.0) is not None
    assert d.restore(slow, 3.0, "active checks pass") is not None
    assert d.sweep(10.0) == []  # its slow samples from before the ejection are gone
