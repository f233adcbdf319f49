"""Core runtime objects shared by every layer: endpoints, snapshots and pick contexts.

An `Endpoint` is one upstream address of one cluster. Its identity is stable for the life of
the cluster (balancers and pools key on it), its live counters are written by the data path
of the one process that owns it, and its health flags are written only by the cluster's
`EndpointSet` (active checks, outlier detection, admin drain). Balancers never read flags:
they read a `Snapshot`, rebuilt by the `EndpointSet` whenever a flag changes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

Clock = Callable[[], float]
"""A monotonic clock in seconds. Pure logic takes `now` or a `Clock`; tests pass a fake one."""

monotonic: Clock = time.monotonic


@dataclass(slots=True, eq=False, repr=False)
class Endpoint:
    """One upstream address. Hashable by identity; `repr` is a debugging contract."""

    cluster: str
    host: str
    port: int
    weight: int = 1

    # Health flags: written only by EndpointSet.
    healthy: bool = True  # False while failing active health checks
    ejected_until: float = 0.0  # passive outlier ejection deadline (monotonic seconds)
    ejection_count: int = 0
    draining: bool = False
    healthy_since: float = 0.0  # when it last became eligible; drives slow start
    retry_after_until: float = 0.0  # skipped until then after a 429/503 with Retry-After
    last_reason: str = "added"
    last_change: float = 0.0  # unix time of the last health transition (0 = none yet)

    # Live counters: written by the data path.
    active_requests: int = 0
    active_connections: int = 0
    total_requests: int = 0
    latency_ewma: float = 0.0  # seconds to the response head, an EWMA kept by the data path

    address: str = field(init=False)
    key: bytes = field(init=False)  # stable hash input for consistent hashing

    def __post_init__(self) -> None:
        self.address = (
            f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"
        )
        self.key = f"{self.cluster}/{self.address}".encode()

    def __repr__(self) -> str:
        state = "healthy" if self.healthy else "unhealthy"
        if self.draining:
            state += ",draining"
        if self.ejected_until:
            state += f",ejected#{self.ejection_count}"
        return (
            f"<Endpoint {self.cluster}/{self.address} w={self.weight} {state} "
            f"active={self.active_requests} total={self.total_requests}>"
        )


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What a balancer sees: an immutable, versioned view of one cluster's endpoints.

    `eligible` are the endpoints a balancer should choose from (healthy, not ejected, not
    draining; or every endpoint while the cluster is in panic). `weights` is aligned with
    `eligible` and holds effective weights (configured weight scaled by slow start).
    """

    version: int
    endpoints: tuple[Endpoint, ...]
    eligible: tuple[Endpoint, ...]
    weights: tuple[float, ...]
    panic: bool = False

    @staticmethod
    def of(endpoints: tuple[Endpoint, ...], version: int = 0) -> Snapshot:
        """A snapshot in which every endpoint is eligible at its configured weight."""
        return Snapshot(
            version=version,
            endpoints=endpoints,
            eligible=endpoints,
            weights=tuple(float(e.weight) for e in endpoints),
        )


@dataclass(slots=True)
class PickContext:
    """Per-request input to `Balancer.pick`. Every field is optional to an algorithm."""

    hash_key: int | None = None  # 64-bit hash of the route's hash key (header, cookie, ...)
    tried: tuple[Endpoint, ...] = ()  # endpoints already attempted by this request (retries)
    now: float = 0.0
