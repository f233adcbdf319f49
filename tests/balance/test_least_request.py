"""Least request: P2C with equal weights, Envoy's dynamic-weight EDF otherwise."""

from __future__ import annotations

import math
import random
from collections import Counter

import pytest

from meshlb.balance import Balancer, BalancerOptions
from meshlb.balance.least_request import LeastRequest
from meshlb.balance.round_robin import RoundRobin
from meshlb.model import PickContext

from .support import endpoints, pick_counts, simulate, snapshot


def test_equal_weights_without_load_spread_evenly_over_100k_picks() -> None:
    eps = endpoints(5)
    picks = 100_000
    counts = pick_counts(LeastRequest(rng=random.Random(1)), snapshot(eps), picks)
    sigma = math.sqrt(picks * 0.2 * 0.8)
    for e in eps:
        assert abs(counts[e] - picks / 5) < 5 * sigma


def test_unequal_weights_without_load_follow_the_weights_over_100k_picks() -> None:
    eps = endpoints(4, weights=[1, 2, 3, 4])
    counts = pick_counts(LeastRequest(rng=random.Random(2)), snapshot(eps), 100_000)
    for e in eps:
        assert counts[e] == pytest.approx(100_000 * e.weight / 10, rel=0.01)


def test_two_choices_avoid_the_busiest_endpoint_unless_drawn_twice() -> None:
    eps = endpoints(3)
    for e, active in zip(eps, [0, 1, 50], strict=True):
        e.active_requests = active
    counts = pick_counts(LeastRequest(rng=random.Random(3)), snapshot(eps), 90_000)
    assert counts[eps[2]] == pytest.approx(90_000 / 9, rel=0.05)  # both draws on it: 1/9
    assert counts[eps[0]] == pytest.approx(90_000 * 5 / 9, rel=0.02)  # any draw of it wins


def test_more_choices_concentrate_on_the_least_loaded() -> None:
    eps = endpoints(3)
    for e, active in zip(eps, [4, 1, 9], strict=True):
        e.active_requests = active
    balancer = LeastRequest(BalancerOptions(choice_count=16), rng=random.Random(4))
    counts = pick_counts(balancer, snapshot(eps), 10_000)
    assert counts[eps[1]] / 10_000 == pytest.approx(1 - (2 / 3) ** 16, abs=0.002)  # 0.9985


def test_active_request_bias_zero_ignores_load() -> None:
    eps = endpoints(2, weights=[1, 3])
    eps[1].active_requests = 100
    balancer = LeastRequest(BalancerOptions(active_request_bias=0.0), rng=random.Random(5))
    counts = pick_counts(balancer, snapshot(eps), 40_000)
    assert counts[eps[1]] == pytest.approx(30_000, rel=0.01)


@pytest.mark.parametrize("bias", [0.5, 1.0, 2.0])
def test_unequal_weights_use_envoys_effective_weight(bias: float) -> None:
    eps = endpoints(2, weights=[1, 4])
    eps[1].active_requests = 3  # effective weight 4 / 4 ** bias
    balancer = LeastRequest(BalancerOptions(active_request_bias=bias), rng=random.Random(6))
    counts = pick_counts(balancer, snapshot(eps), 50_000)
    effective = 4 / 4**bias
    assert counts[eps[1]] / counts[eps[0]] == pytest.approx(effective, rel=0.02)


def test_load_moves_away_from_a_slow_endpoint() -> None:
    slow_share = {}
    contenders: dict[str, Balancer] = {
        "round_robin": RoundRobin(rng=random.Random(7)),
        "least_request": LeastRequest(rng=random.Random(7)),
    }
    for name, balancer in contenders.items():
        eps = endpoints(3)
        latency = {eps[0]: 0.010, eps[1]: 0.010, eps[2]: 0.150}
        counts = simulate(balancer, eps, latency, requests=6000, interval=0.004)
        slow_share[name] = counts[eps[2]] / 6000
    assert slow_share["round_robin"] == pytest.approx(1 / 3, abs=0.01)
    assert slow_share["least_request"] < 0.15


def test_weighted_mode_also_moves_load_away_from_a_slow_heavy_endpoint() -> None:
    eps = endpoints(3, weights=[2, 1, 1])
    latency = {eps[0]: 0.200, eps[1]: 0.010, eps[2]: 0.010}
    balancer = LeastRequest(rng=random.Random(8))
    counts: Counter = simulate(balancer, eps, latency, requests=6000, interval=0.004)
    assert counts[eps[0]] / 6000 < 0.25  # its weight alone would give it half


def test_repr_shows_the_mode() -> None:
    balancer = LeastRequest()
    balancer.rebuild(snapshot(endpoints(3), 2))
    assert repr(balancer) == "<LeastRequest v=2 endpoints=3 p2c(choices=2) max_active=0>"
    balancer.rebuild(snapshot(endpoints(2, weights=[1, 2]), 3))
    assert "edf(bias=1.0)" in repr(balancer)
    assert balancer.pick(PickContext(), snapshot([])) is None
