"""Smooth weighted round robin: exact shares per period, smoothness, O(1) picks."""

from __future__ import annotations

import random
import re

import pytest

from meshlb.balance.round_robin import RoundRobin, integer_weights, smooth_schedule
from meshlb.model import PickContext, Snapshot

from .support import endpoints, pick_counts, snapshot


def sequence(balancer: RoundRobin, snap: Snapshot, picks: int) -> list[str]:
    ctx = PickContext()
    return [balancer.pick(ctx, snap).host for _ in range(picks)]  # type: ignore[union-attr]


def test_equal_weights_rotate_through_every_endpoint_once_per_round() -> None:
    eps = endpoints(5)
    snap = snapshot(eps)
    balancer = RoundRobin(rng=random.Random(0))
    picks = sequence(balancer, snap, 50)
    for start in range(0, 50, 5):
        assert sorted(picks[start : start + 5]) == sorted(e.host for e in eps)


def test_weighted_shares_are_exact_over_100k_picks() -> None:
    eps = endpoints(4, weights=[1, 2, 3, 4])
    counts = pick_counts(RoundRobin(), snapshot(eps), 100_000)
    for e in eps:
        # One period is 10 picks, so every endpoint is within one period's share.
        assert abs(counts[e] - 100_000 * e.weight / 10) <= e.weight


def test_five_one_one_is_spread_like_nginx_or_better() -> None:
    eps = endpoints(3, weights=[5, 1, 1])
    picks = "".join(
        {"10.0.0.1": "a", "10.0.0.2": "b", "10.0.0.3": "c"}[h]
        for h in sequence(RoundRobin(rng=random.Random(1)), snapshot(eps), 700)
    )
    assert "aaaa" not in picks  # nginx's a a b a c a a repeats into runs of four
    for start in range(0, 693):
        window = picks[start : start + 7]
        assert (window.count("a"), window.count("b"), window.count("c")) == (5, 1, 1)


def nginx_swrr(weights: list[int]) -> list[int]:
    """nginx's smooth weighted round robin, one period, as reference."""
    current = [0] * len(weights)
    total = sum(weights)
    order = []
    for _ in range(total):
        for i, w in enumerate(weights):
            current[i] += w
        best = max(range(len(weights)), key=lambda i: (current[i], -i))
        current[best] -= total
        order.append(best)
    return order


def worst_gap_error(schedule: list[int], weights: list[int]) -> float:
    """Largest distance between an endpoint's gap between turns and period / weight."""
    period = len(schedule)
    repeated = schedule * 3  # gaps across period boundaries count too
    worst = 0.0
    for endpoint, weight in enumerate(weights):
        turns = [i for i, chosen in enumerate(repeated) if chosen == endpoint]
        for a, b in zip(turns, turns[1:], strict=False):
            worst = max(worst, abs(b - a - period / weight))
    return worst


def test_turns_are_spread_at_least_as_evenly_as_nginx() -> None:
    rng = random.Random(5)
    ours_total = nginx_total = 0.0
    for _ in range(100):
        raw = [float(rng.randint(1, 12)) for _ in range(rng.randint(2, 8))]
        weights = integer_weights(raw, limit=4096)  # reduced by the gcd, as rebuild does
        ours = smooth_schedule(list(range(len(weights))), weights)
        assert sorted(ours) == sorted(nginx_swrr(weights))  # same shares per period
        error = worst_gap_error(ours, weights)
        assert error < len(weights)
        ours_total += error
        nginx_total += worst_gap_error(nginx_swrr(weights), weights)
    assert ours_total <= nginx_total


def test_weights_are_reduced_by_their_gcd() -> None:
    assert integer_weights([100.0, 200.0, 300.0], limit=4096) == [1, 2, 3]


def test_huge_or_fractional_weights_are_scaled_to_a_bounded_period() -> None:
    scaled = integer_weights([1_000_003.0, 1.0, 2_000_000.0], limit=4096)
    assert sum(scaled) <= 4096 + 3
    assert scaled[1] == 1  # a positive weight keeps at least one turn
    ramped = integer_weights([10.0, 2.5, 10.0], limit=4096)
    assert ramped[1] / ramped[0] == pytest.approx(0.25, rel=0.01)


def test_the_period_stays_bounded_at_a_thousand_unequal_endpoints() -> None:
    weights = [1 + (i * 37) % 101 for i in range(1000)]
    eps = endpoints(1000, weights=weights)
    balancer = RoundRobin()
    balancer.rebuild(snapshot(eps))
    period = int(re.search(r"period=(\d+)", repr(balancer)).group(1))  # type: ignore[union-attr]
    assert 15_000 <= period <= 16_000 + 1000  # limit 16 n, plus rounding up of each weight
    counts = pick_counts(balancer, snapshot(eps), period)
    total = sum(weights)
    heavy = max(eps, key=lambda e: e.weight)
    assert counts[heavy] == pytest.approx(period * heavy.weight / total, rel=0.02)


def test_a_rebuild_with_the_same_schedule_keeps_the_position() -> None:
    eps = endpoints(4)
    balancer = RoundRobin(rng=random.Random(3))
    before = sequence(balancer, snapshot(eps, 1), 2)
    after = sequence(balancer, snapshot(eps, 2), 2)  # new version, same membership
    hosts = [e.host for e in eps]
    assert hosts.index(after[0]) == (hosts.index(before[1]) + 1) % 4


def test_workers_start_at_different_offsets() -> None:
    eps = endpoints(50)
    firsts = {
        sequence(RoundRobin(rng=random.Random(seed)), snapshot(eps), 1)[0] for seed in range(20)
    }
    assert len(firsts) > 5


def test_repr_shows_mode_period_and_position() -> None:
    balancer = RoundRobin(rng=random.Random(0))
    balancer.rebuild(snapshot(endpoints(3, weights=[5, 1, 1]), 9))
    assert repr(balancer).startswith("<RoundRobin v=9 endpoints=3 weighted period=7 position=")
    balancer.rebuild(snapshot(endpoints(2), 10))
    assert "rotation period=2" in repr(balancer)
