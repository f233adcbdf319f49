"""Peak EWMA: the estimate's arithmetic on a fake clock, and its effect on load."""

from __future__ import annotations

import math
import random

import pytest

from meshlb.balance import Balancer, BalancerOptions, observer
from meshlb.balance.ewma import PeakEwma
from meshlb.balance.round_robin import RoundRobin
from meshlb.model import PickContext

from .support import endpoints, pick_counts, simulate, snapshot

T0 = 100.0


def test_an_unobserved_endpoint_costs_the_default_rtt() -> None:
    (e,) = endpoints(1)
    balancer = PeakEwma(BalancerOptions(ewma_default_rtt=0.05))
    assert balancer.cost(e, T0) == pytest.approx(0.05)
    e.active_requests = 3
    assert balancer.cost(e, T0) == pytest.approx(0.2)


def test_a_slower_sample_replaces_the_estimate_at_once() -> None:
    (e,) = endpoints(1)
    balancer = PeakEwma()
    balancer.observe(e, 0.010, T0)
    balancer.observe(e, 0.500, T0 + 0.001)
    assert balancer.cost(e, T0 + 0.001) == pytest.approx(0.500)
    balancer.observe(e, 0.010, T0 + 100.0)  # decayed back to ~10 ms
    balancer.observe(e, 0.011, T0 + 100.001)  # even a little slower is a new peak
    assert balancer.cost(e, T0 + 100.001) == pytest.approx(0.011)


def test_a_faster_sample_is_mixed_in_by_elapsed_time() -> None:
    (e,) = endpoints(1)
    balancer = PeakEwma(BalancerOptions(ewma_decay=10.0))
    balancer.observe(e, 0.100, T0)
    balancer.observe(e, 0.020, T0 + 5.0)
    w = math.exp(-5.0 / 10.0)
    assert balancer.cost(e, T0 + 5.0) == pytest.approx(0.100 * w + 0.020 * (1 - w))


def test_the_estimate_decays_toward_zero_without_samples() -> None:
    (e,) = endpoints(1)
    balancer = PeakEwma(BalancerOptions(ewma_decay=10.0))
    balancer.observe(e, 0.400, T0)
    assert balancer.cost(e, T0 + 10.0) == pytest.approx(0.400 / math.e)
    assert balancer.cost(e, T0 + 60.0) < 0.001  # an avoided endpoint gets probed again
    assert balancer.cost(e, T0) == pytest.approx(0.400)  # reading wrote nothing


def test_the_cheaper_of_two_candidates_wins() -> None:
    eps = endpoints(2)
    balancer = PeakEwma(rng=random.Random(1))
    balancer.observe(eps[0], 0.300, T0)
    balancer.observe(eps[1], 0.010, T0)
    counts = pick_counts(balancer, snapshot(eps), 8000)
    assert counts[eps[0]] == pytest.approx(2000, rel=0.1)  # only when drawn twice: 1/4


def test_a_slow_endpoint_is_avoided_then_probed_again_once_its_estimate_decays() -> None:
    eps = endpoints(2)
    balancer = PeakEwma(BalancerOptions(ewma_decay=10.0), rng=random.Random(4))
    snap = snapshot(eps)
    balancer.observe(eps[0], 1.000, T0)
    balancer.observe(eps[1], 0.050, T0)

    def share_of_slow(now: float) -> float:
        picks = [balancer.pick(PickContext(now=now), snap) for _ in range(4000)]
        return picks.count(eps[0]) / 4000

    assert share_of_slow(T0 + 1.0) == pytest.approx(0.25, abs=0.03)  # only if drawn twice
    balancer.observe(eps[1], 0.050, T0 + 59.0)  # the fast one keeps answering
    # 60 s later the slow one's estimate is 1.0 * e**-6 = 2.5 ms, below the fast one's 50 ms.
    assert share_of_slow(T0 + 60.0) == pytest.approx(0.75, abs=0.03)


def test_without_samples_picks_follow_the_weights() -> None:
    eps = endpoints(3, weights=[1, 1, 2])
    counts = pick_counts(PeakEwma(rng=random.Random(2)), snapshot(eps), 40_000)
    assert counts[eps[2]] == pytest.approx(20_000, rel=0.02)


def test_load_moves_away_from_a_slow_endpoint() -> None:
    shares = {}
    contenders: dict[str, Balancer] = {
        "round_robin": RoundRobin(rng=random.Random(3)),
        "peak_ewma": PeakEwma(rng=random.Random(3)),
    }
    for name, balancer in contenders.items():
        eps = endpoints(3)
        latency = {eps[0]: 0.010, eps[1]: 0.010, eps[2]: 0.150}
        counts = simulate(balancer, eps, latency, requests=6000, interval=0.004)
        shares[name] = counts[eps[2]] / 6000
    assert shares["round_robin"] == pytest.approx(1 / 3, abs=0.01)
    assert shares["peak_ewma"] < 0.15


def test_endpoints_that_leave_the_cluster_are_forgotten() -> None:
    eps = endpoints(3)
    balancer = PeakEwma()
    observe = observer(balancer)
    assert observe is not None
    for e in eps:
        observe(e, 0.02, T0)
    balancer.rebuild(snapshot(eps[1:], 2))
    assert "10.0.0.1" not in repr(balancer)
    assert "10.0.0.2:8080=20.0ms" in repr(balancer)


def test_repr_shows_estimates() -> None:
    eps = endpoints(1)
    balancer = PeakEwma()
    balancer.rebuild(snapshot(eps, 3))
    balancer.observe(eps[0], 0.0125, T0)
    assert repr(balancer) == (
        "<PeakEwma v=3 endpoints=1 decay=10.0s estimates={10.0.0.1:8080=12.5ms}>"
    )
