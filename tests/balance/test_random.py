"""Weighted random: the alias table is exact, and draws follow it."""

from __future__ import annotations

import math
import random

import pytest

from meshlb.balance.random import WeightedRandom
from meshlb.balance.weighted import AliasTable

from .support import endpoints, pick_counts, snapshot


@pytest.mark.parametrize(
    "weights",
    [[1.0], [1.0, 1.0, 1.0], [1.0, 2.0, 3.0, 4.0], [0.1, 10.0, 0.001, 5.5], [7.0] * 5 + [1.0]],
)
def test_the_alias_table_encodes_exactly_the_weights(weights: list[float]) -> None:
    eps = endpoints(len(weights))
    table = AliasTable(eps, weights)
    implied = dict.fromkeys(eps, 0.0)
    for column, endpoint in enumerate(table.endpoints):
        keep = table.threshold[column] / 2**32
        implied[endpoint] += keep / table.size
        implied[table.alias[column]] += (1.0 - keep) / table.size
    total = sum(weights)
    for endpoint, weight in zip(eps, weights, strict=True):
        assert implied[endpoint] == pytest.approx(weight / total, abs=1e-9)


def test_weighted_shares_hold_over_100k_picks() -> None:
    eps = endpoints(4, weights=[1, 2, 3, 4])
    picks = 100_000
    counts = pick_counts(WeightedRandom(rng=random.Random(11)), snapshot(eps), picks)
    for e in eps:
        p = e.weight / 10
        sigma = math.sqrt(picks * p * (1 - p))
        assert abs(counts[e] - picks * p) < 5 * sigma


def test_every_endpoint_of_a_large_cluster_is_drawn() -> None:
    eps = endpoints(1000)
    counts = pick_counts(WeightedRandom(rng=random.Random(12)), snapshot(eps), 20_000)
    assert len(counts) == 1000
    assert max(counts.values()) < 60  # mean 20, Poisson tail


def test_repr_shows_version_and_size() -> None:
    balancer = WeightedRandom()
    balancer.rebuild(snapshot(endpoints(3), 4))
    assert repr(balancer) == "<WeightedRandom v=4 endpoints=3>"
