"""Load balancing algorithms, registered by name."""

from __future__ import annotations

from collections.abc import Callable

from meshlb.balance.base import Balancer
from meshlb.balance.options import BalancerOptions
from meshlb.balance.round_robin import RoundRobin

BalancerFactory = Callable[[BalancerOptions], Balancer]

_REGISTRY: dict[str, BalancerFactory] = {"round_robin": lambda options: RoundRobin()}


def registered() -> list[str]:
    return sorted(_REGISTRY)


def create(name: str, options: BalancerOptions) -> Balancer:
    return _REGISTRY[name](options)


__all__ = ["Balancer", "BalancerOptions", "create", "registered"]
