"""Shared mechanics: eligibility, panic threshold, slow start, rebuild deadlines, select()."""

from __future__ import annotations

import math

import pytest

from meshlb.balance import BalancerOptions, build_snapshot, create, select
from meshlb.balance.select import MIN_SLOW_START_STEP, PICK_ATTEMPTS, ExpiringSnapshot
from meshlb.model import Endpoint, PickContext, Snapshot

from .support import endpoints, snapshot

NOW = 5000.0


def build(eps: list[Endpoint], now: float = NOW, **options: float) -> ExpiringSnapshot:
    return build_snapshot(eps, 7, now, BalancerOptions(**options))  # type: ignore[arg-type]


# Eligibility and panic ---------------------------------------------------------------------


def test_unhealthy_ejected_and_draining_endpoints_are_not_eligible() -> None:
    eps = endpoints(10)
    eps[0].healthy = False
    eps[1].ejected_until = NOW + 1.0
    eps[2].draining = True
    eps[3].ejected_until = NOW  # expires exactly now
    snap = build(eps)
    assert snap.eligible == tuple(eps[3:])
    assert snap.endpoints == tuple(eps)
    assert snap.weights == (1.0,) * 7
    assert snap.version == 7 and not snap.panic


def test_panic_engages_below_the_threshold_and_releases_on_recovery() -> None:
    eps = endpoints(10)
    for e in eps[:5]:
        e.healthy = False
    at_threshold = build(eps)  # 5/10 = 50 %: not below 50 %
    assert not at_threshold.panic and len(at_threshold.eligible) == 5

    eps[5].ejected_until = NOW + 30.0  # 4/10 eligible
    panicking = build(eps)
    assert panicking.panic
    assert panicking.eligible == tuple(eps)  # the unhealthy ones take traffic again

    later = build(eps, now=NOW + 31.0)  # ejection over: 5/10
    assert not later.panic and set(later.eligible) == set(eps[5:])

    for e in eps[:5]:
        e.healthy = True
    assert not build(eps, now=NOW + 31.0).panic


def test_panic_threshold_zero_never_panics_and_leaves_nothing_eligible() -> None:
    eps = endpoints(3)
    for e in eps:
        e.healthy = False
    snap = build(eps, panic_threshold=0.0)
    assert not snap.panic and snap.eligible == ()
    assert select(create("round_robin"), PickContext(now=NOW), snap) is None


def test_panic_never_brings_back_draining_endpoints() -> None:
    eps = endpoints(4)
    eps[0].draining = True
    for e in eps[1:3]:
        e.healthy = False
    snap = build(eps)  # 1 of 3 non-draining eligible: panic
    assert snap.panic
    assert snap.eligible == tuple(eps[1:])


def test_a_cluster_where_everything_drains_is_empty_not_panicking() -> None:
    eps = endpoints(2)
    for e in eps:
        e.draining = True
    snap = build(eps)
    assert snap.eligible == () and not snap.panic


# Slow start ----------------------------------------------------------------------------------


def ramp(elapsed: float, window: float, aggression: float = 1.0, floor: float = 0.1) -> float:
    """Envoy's slow-start factor, restated."""
    return max(floor, (max(elapsed, 0.001) / window) ** (1.0 / aggression))


@pytest.mark.parametrize("aggression", [1.0, 2.0, 0.5])
def test_slow_start_ramps_weight_as_configured(aggression: float) -> None:
    window = 60.0
    eps = endpoints(2, weights=[10, 10])
    eps[1].healthy_since = NOW
    observed = []
    for elapsed in (0.0, 3.0, 6.0, 15.0, 30.0, 45.0, 59.0, 60.0, 120.0):
        snap = build(
            eps,
            now=NOW + elapsed,
            slow_start_window=window,
            slow_start_aggression=aggression,
        )
        assert snap.weights[0] == 10.0  # healthy since forever: no ramp
        expected = 10.0 * ramp(elapsed, window, aggression) if elapsed < window else 10.0
        assert snap.weights[1] == pytest.approx(expected)
        observed.append(snap.weights[1])
    assert observed == sorted(observed)  # monotonic
    assert observed[0] == pytest.approx(1.0)  # the 10 % floor
    assert observed[-1] == 10.0


def test_slow_start_min_weight_percent_sets_the_floor() -> None:
    eps = endpoints(1, weights=[4])
    eps[0].healthy_since = NOW
    snap = build(eps, now=NOW + 1.0, slow_start_window=100.0, slow_start_min_weight_percent=25.0)
    assert snap.weights == (1.0,)  # 1 % of the window would be 0.04: floor at 25 %


def test_slow_start_is_off_by_default_and_for_unknown_healthy_since() -> None:
    eps = endpoints(2)
    eps[0].healthy_since = NOW - 1.0
    assert build(eps).weights == (1.0, 1.0)
    eps[0].healthy_since = 0.0
    assert build(eps, now=10.0, slow_start_window=60.0).weights == (1.0, 1.0)


def test_in_panic_only_really_healthy_endpoints_ramp() -> None:
    eps = endpoints(4)
    for e in eps:
        e.healthy_since = NOW - 6.0
    eps[1].healthy = False
    eps[2].healthy = False
    eps[3].ejected_until = NOW + 10.0
    snap = build(eps, slow_start_window=60.0)
    assert snap.panic
    assert snap.weights == (pytest.approx(0.1), 1.0, 1.0, 1.0)


def test_slow_start_changes_the_weight_a_balancer_sees() -> None:
    eps = endpoints(2)
    eps[1].healthy_since = NOW
    snap = build(eps, now=NOW + 10.0, slow_start_window=40.0)  # factor 0.25
    balancer = create("round_robin")
    counts = [0, 0]
    for _ in range(5000):
        counts[eps.index(select(balancer, PickContext(now=NOW + 10.0), snap))] += 1  # type: ignore[arg-type]
    assert counts[1] / counts[0] == pytest.approx(0.25, rel=0.01)


# Rebuild deadlines ---------------------------------------------------------------------------


def test_a_stable_cluster_never_needs_a_rebuild() -> None:
    assert build(endpoints(3)).next_rebuild_at == math.inf


def test_the_earliest_ejection_expiry_is_the_rebuild_deadline() -> None:
    eps = endpoints(4)
    eps[0].ejected_until = NOW + 30.0
    eps[1].ejected_until = NOW + 12.0
    eps[2].ejected_until = NOW + 5.0
    eps[2].healthy = False  # its expiry changes nothing: still unhealthy
    assert build(eps).next_rebuild_at == NOW + 12.0


def test_slow_start_asks_for_rebuilds_in_steps_until_the_window_ends() -> None:
    window = 32.0
    eps = endpoints(2)
    eps[1].healthy_since = NOW
    now = NOW
    deadlines = []
    while True:
        deadline = build(eps, now=now, slow_start_window=window).next_rebuild_at
        if deadline == math.inf:
            break
        assert deadline > now
        deadlines.append(deadline)
        now = deadline
    assert len(deadlines) == 16  # window / 16 per step
    assert deadlines[-1] == NOW + window
    assert build(eps, now=now, slow_start_window=window).weights == (1.0, 1.0)


def test_short_windows_step_no_faster_than_the_minimum() -> None:
    eps = endpoints(1)
    eps[0].healthy_since = NOW
    snap = build(eps, now=NOW, slow_start_window=1.0)
    assert snap.next_rebuild_at == NOW + MIN_SLOW_START_STEP


# select() --------------------------------------------------------------------------------------


class Scripted:
    """A balancer that returns a scripted sequence of endpoints and counts its picks."""

    def __init__(self, *answers: Endpoint | None) -> None:
        self.answers = list(answers)
        self.picks = 0
        self.keys: list[int | None] = []

    def rebuild(self, snapshot: Snapshot) -> None:
        pass

    def pick(self, ctx: PickContext, snapshot: Snapshot) -> Endpoint | None:
        self.picks += 1
        self.keys.append(ctx.hash_key)
        return self.answers[min(self.picks, len(self.answers)) - 1]


def test_an_accepted_first_pick_costs_exactly_one_pick() -> None:
    eps = endpoints(3)
    balancer = Scripted(eps[1])
    assert select(balancer, PickContext(now=NOW), snapshot(eps)) is eps[1]
    assert balancer.picks == 1


def test_a_tried_endpoint_is_picked_again_with_a_different_key() -> None:
    eps = endpoints(3)
    balancer = Scripted(eps[0], eps[2])
    ctx = PickContext(hash_key=99, tried=(eps[0],), now=NOW)
    assert select(balancer, ctx, snapshot(eps)) is eps[2]
    assert balancer.picks == 2
    assert balancer.keys[0] == 99 and balancer.keys[1] != 99


def test_picks_are_bounded_then_a_deterministic_scan_decides() -> None:
    eps = endpoints(4)
    stubborn = Scripted(eps[0])
    ctx = PickContext(hash_key=6, tried=(eps[0], eps[3]), now=NOW)
    assert select(stubborn, ctx, snapshot(eps)) is eps[2]  # scan starts at 6 % 4 = 2
    assert stubborn.picks == PICK_ATTEMPTS
    assert (
        select(Scripted(eps[0]), PickContext(hash_key=3, tried=(eps[0], eps[3])), snapshot(eps))
        is eps[1]
    )


def test_a_balancer_that_finds_nothing_falls_back_to_the_scan() -> None:
    eps = endpoints(2)
    assert select(Scripted(None), PickContext(now=NOW), snapshot(eps)) is eps[0]


def test_an_endpoint_backing_off_after_429_is_skipped_until_retry_after() -> None:
    eps = endpoints(3)
    eps[1].retry_after_until = NOW + 2.0
    snap = snapshot(eps)
    balancer = create("round_robin")
    during = {select(balancer, PickContext(now=NOW + 1.0), snap) for _ in range(30)}
    assert during == {eps[0], eps[2]}
    after = {select(balancer, PickContext(now=NOW + 2.0), snap) for _ in range(30)}
    assert after == set(eps)


def test_when_every_endpoint_backs_off_the_request_gets_none() -> None:
    eps = endpoints(3)
    for e in eps:
        e.retry_after_until = NOW + 1.0
    assert select(create("least_request"), PickContext(now=NOW), snapshot(eps)) is None


def test_a_hash_balancer_retry_moves_off_the_tried_endpoint_deterministically() -> None:
    eps = endpoints(10)
    snap = snapshot(eps)
    balancer = create("ring_hash")
    first = select(balancer, PickContext(hash_key=12345), snap)
    assert first is not None
    retry = select(balancer, PickContext(hash_key=12345, tried=(first,)), snap)
    assert retry is not None and retry is not first
    again = select(create("ring_hash"), PickContext(hash_key=12345, tried=(first,)), snap)
    assert again is retry
