"""Least connections: fewest open connections, ties round robin, weights as HAProxy does."""

from __future__ import annotations

from collections import Counter

from meshlb.balance.least_connections import LeastConnections
from meshlb.model import PickContext

from .support import endpoints, snapshot


def test_the_endpoint_with_fewest_connections_is_chosen() -> None:
    eps = endpoints(4)
    for e, connections in zip(eps, [5, 2, 9, 3], strict=True):
        e.active_connections = connections
    balancer = LeastConnections()
    snap = snapshot(eps)
    assert {balancer.pick(PickContext(), snap) for _ in range(10)} == {eps[1]}


def test_ties_between_idle_endpoints_go_round_robin() -> None:
    eps = endpoints(5)
    balancer = LeastConnections()
    snap = snapshot(eps)
    first_round = [balancer.pick(PickContext(), snap) for _ in range(5)]
    assert sorted(e.host for e in first_round) == sorted(e.host for e in eps)  # type: ignore[union-attr]


def test_connections_even_out_as_they_are_opened() -> None:
    eps = endpoints(3)
    eps[0].active_connections = 6
    balancer = LeastConnections()
    snap = snapshot(eps)
    for _ in range(12):
        chosen = balancer.pick(PickContext(), snap)
        assert chosen is not None
        chosen.active_connections += 1
    assert [e.active_connections for e in eps] == [6, 6, 6]


def test_weights_scale_the_connections_an_endpoint_is_given() -> None:
    eps = endpoints(2, weights=[3, 1])
    balancer = LeastConnections()
    snap = snapshot(eps)
    opened: Counter[str] = Counter()
    for _ in range(400):
        chosen = balancer.pick(PickContext(), snap)
        assert chosen is not None
        chosen.active_connections += 1
        opened[chosen.host] += 1
    assert opened[eps[0].host] == 300 and opened[eps[1].host] == 100


def test_repr_counts_connections() -> None:
    eps = endpoints(2)
    eps[0].active_connections = 3
    balancer = LeastConnections()
    balancer.rebuild(snapshot(eps, 5))
    assert repr(balancer) == "<LeastConnections v=5 endpoints=2 connections=3 next=0>"
