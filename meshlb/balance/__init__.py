"""Load balancing: algorithms registered by name, and the mechanics they share.

`create(name, options)` builds a balancer for one cluster. Built-in names are listed in
`BUILTIN`; third-party balancers are found through the `meshlb.balancers` entry-point group,
whose entry points name either a class taking `BalancerOptions` or a factory
`(options: BalancerOptions) -> Balancer`. Entry points are only imported when `create` is
asked for a name that is not registered yet. A built-in name cannot be overridden by an
entry point (it is ignored); `register` can, explicitly.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points

from meshlb.balance.base import Balancer, ObservingBalancer
from meshlb.balance.ewma import PeakEwma
from meshlb.balance.hashing import hash_key
from meshlb.balance.least_connections import LeastConnections
from meshlb.balance.least_request import LeastRequest
from meshlb.balance.maglev import Maglev
from meshlb.balance.options import BalancerOptions
from meshlb.balance.random import WeightedRandom
from meshlb.balance.ring_hash import RingHash
from meshlb.balance.round_robin import RoundRobin
from meshlb.balance.select import ExpiringSnapshot, build_snapshot, select
from meshlb.balance.sticky import StickyIndex, cookie_value
from meshlb.model import Endpoint

BalancerFactory = Callable[[BalancerOptions], Balancer]

ENTRY_POINT_GROUP = "meshlb.balancers"

BUILTIN: dict[str, BalancerFactory] = {
    "round_robin": RoundRobin,
    "random": WeightedRandom,
    "least_request": LeastRequest,
    "peak_ewma": PeakEwma,
    "ring_hash": RingHash,
    "maglev": Maglev,
    "least_connections": LeastConnections,
}

_REGISTRY: dict[str, BalancerFactory] = dict(BUILTIN)


class UnknownBalancerError(KeyError, ValueError):
    """No balancer of that name is built in, registered or installed."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown balancer"


class BalancerLoadError(ValueError):
    """A balancer's entry point could not be imported, or its factory built no balancer.

    A ValueError, so that config validation reports it against the cluster instead of
    crashing: a broken plugin is a configuration problem of the clusters that name it."""


def register(name: str, factory: BalancerFactory) -> None:
    """Register (or replace) a balancer factory under `name`."""
    _REGISTRY[name] = factory


def registered() -> list[str]:
    """Every name `create` accepts: registered ones and installed entry points."""
    return sorted(set(_REGISTRY) | set(_entry_points()))


def create(name: str, options: BalancerOptions | None = None) -> Balancer:
    """A new balancer `name` configured with `options` (defaults if None)."""
    factory = _REGISTRY.get(name)
    if factory is None:
        factory = _load(name)
    balancer = factory(options if options is not None else BalancerOptions())
    if not isinstance(balancer, Balancer):
        raise BalancerLoadError(
            f"balancer factory for {name!r} returned {balancer!r}, "
            "which lacks rebuild(snapshot) and pick(ctx, snapshot)"
        )
    return balancer


def observer(balancer: Balancer) -> Callable[[Endpoint, float, float], None] | None:
    """The balancer's `observe(endpoint, rtt_seconds, now)`, or None if it takes no samples."""
    return balancer.observe if isinstance(balancer, ObservingBalancer) else None


def _entry_points() -> dict[str, EntryPoint]:
    found = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    return {name: ep for name, ep in found.items() if name not in BUILTIN}


def _load(name: str) -> BalancerFactory:
    entry_point = _entry_points().get(name)
    if entry_point is None:
        known = ", ".join(registered())
        raise UnknownBalancerError(f"unknown balancer {name!r}; known balancers: {known}")
    try:
        factory = entry_point.load()
    except Exception as exc:
        raise BalancerLoadError(
            f"balancer {name!r} (entry point {entry_point.value!r}) failed to load: {exc}"
        ) from exc
    if not callable(factory):
        raise BalancerLoadError(
            f"entry point {entry_point.value!r} for balancer {name!r} is not callable"
        )
    _REGISTRY[name] = factory
    return factory


__all__ = [
    "BUILTIN",
    "ENTRY_POINT_GROUP",
    "Balancer",
    "BalancerFactory",
    "BalancerLoadError",
    "BalancerOptions",
    "ExpiringSnapshot",
    "ObservingBalancer",
    "StickyIndex",
    "UnknownBalancerError",
    "build_snapshot",
    "cookie_value",
    "create",
    "hash_key",
    "observer",
    "register",
    "registered",
    "select",
]
