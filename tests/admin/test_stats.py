"""Status figures: endpoint state words, p99 from a histogram, rates over a window."""

from __future__ import annotations

import copy

import msgspec
import pytest

from meshlb.admin.snapshot import LATENCY_BUCKETS, EndpointView, MetricsSnapshot
from meshlb.admin.stats import RateWindow, endpoint_state, quantile, summarize
from tests.admin.fakes import T0, sample_snapshot, steady_traffic


def view(**flags: bool) -> EndpointView:
    healthy = flags.pop("healthy", True)
    return msgspec.structs.replace(
        EndpointView(address="10.0.0.9:80", weight=1, healthy=healthy), **flags
    )


def test_endpoint_state_follows_precedence() -> None:
    assert endpoint_state(view()) == "healthy"
    assert endpoint_state(view(slow_start=True)) == "slow-start"
    assert endpoint_state(view(healthy=False)) == "down"
    assert endpoint_state(view(healthy=False, failed_active_check=True)) == "failed-check"
    assert endpoint_state(view(healthy=False, failed_active_check=True, ejected=True)) == "ejected"
    both = view(healthy=False, ejected=True, draining=True)
    assert endpoint_state(both) == "draining"


def test_quantile_interpolates_inside_the_bucket_holding_the_rank() -> None:
    buckets = [0] * (len(LATENCY_BUCKETS) + 1)
    buckets[3] = 100  # all in (5 ms, 10 ms]
    assert quantile(buckets, 0.5) == pytest.approx(0.0075)
    assert quantile(buckets, 0.99) == pytest.approx(0.00995)
    buckets[0] = 100  # half now in [0, 1 ms]
    assert quantile(buckets, 0.25) == pytest.approx(0.0005)
    assert quantile(buckets, 0.99) == pytest.approx(0.005 + 0.005 * 0.98)


def test_quantile_of_nothing_is_none_and_of_the_overflow_bucket_the_top_bound() -> None:
    assert quantile([0] * 14, 0.99) is None
    overflow = [0] * 13 + [5]
    assert quantile(overflow, 0.99) == LATENCY_BUCKETS[-1]


def test_summary_without_a_base_has_counts_but_no_rates() -> None:
    doc = summarize(sample_snapshot(), None)
    assert doc.window == 0.0
    compute = doc.clusters[0]
    assert (compute.requests, compute.errors) == (994, 50)
    assert compute.rps is None and compute.error_rate is None and compute.p99_ms is None
    assert (compute.healthy, compute.total) == (2, 5)
    states = [e.state for e in compute.endpoints]
    assert states == ["healthy", "ejected", "failed-check", "draining", "slow-start"]
    assert compute.endpoints[2].last_hook == {
        "kind": "command",
        "count": 1,
        "ok": False,
        "exit_code": 2,
        "error": "",
    }
    assert doc.listeners[0].rps is None


def test_summary_over_a_window_gives_rates_error_ratio_and_p99_of_that_window() -> None:
    base = sample_snapshot()
    current = copy.deepcopy(base)
    for _ in range(4):
        steady_traffic(current)
    doc = summarize(current, base)
    assert doc.window == 4.0
    compute = doc.clusters[0]
    assert compute.rps == pytest.approx(100.0)
    assert compute.error_rate == pytest.approx(0.02)
    # all 400 samples of the window are in (10 ms, 25 ms]: p99 = 10 + 15 * 0.99 ms
    assert compute.p99_ms == pytest.approx(24.85)
    assert compute.endpoints[0].rps == pytest.approx(100.0)
    assert compute.endpoints[1].rps == 0.0
    assert doc.clusters[1].rps == 0.0 and doc.clusters[1].error_rate is None
    assert doc.listeners[0].rps == pytest.approx(100.0)


def test_a_cluster_that_appeared_since_the_base_counts_from_zero() -> None:
    base = sample_snapshot()
    base.clusters = base.clusters[:1]
    base.routes = base.routes[:1]
    current = sample_snapshot()
    current.taken_at = T0 + 10
    assets = summarize(current, base).clusters[1]
    assert assets.rps == pytest.approx(55.0)
    assert assets.endpoints[0].rps is None  # no earlier count for that endpoint


def test_summary_encodes_to_json() -> None:
    doc = msgspec.json.decode(msgspec.json.encode(summarize(sample_snapshot(), None)))
    assert doc["clusters"][0]["endpoints"][1]["ejection_reason"] == "5 consecutive 5xx"


def at(t: float) -> MetricsSnapshot:
    snap = sample_snapshot()
    snap.taken_at = T0 + t
    return snap


def base_time(window: RateWindow, t: float) -> float | None:
    """Observe a snapshot taken at T0 + t; when (relative to T0) its base was taken."""
    base = window.observe(at(t))
    return None if base is None else base.taken_at - T0


def test_rate_window_keeps_one_sample_per_step_and_compares_with_the_oldest() -> None:
    window = RateWindow(step=1.0, span=10.0)
    assert base_time(window, 0) is None
    assert base_time(window, 0.5) == 0  # compared with the sample at 0, not kept itself
    assert base_time(window, 1) == 0
    # samples now at 0 and 1; 11 s on, the one at 0 is dropped and the one at 1 is the base
    assert base_time(window, 11.5) == 1


def test_rate_window_starts_over_when_time_goes_back() -> None:
    window = RateWindow()
    base_time(window, 100)
    assert base_time(window, 50) is None
    assert base_time(window, 51) == 50
    assert repr(window) == "<RateWindow samples=2 step=1.0s span=10.0s>"
