"""Balancer options: the `[clusters.NAME.lb]` table of the config.

Field names are user-facing config keys. Durations are plain float seconds. Every option is
read by the algorithms it names; the others ignore it, so one table type serves all balancers
(and third-party ones, which read `params`).
"""

from __future__ import annotations

from typing import Annotated

import msgspec

Percent = Annotated[float, msgspec.Meta(ge=0.0, le=100.0)]
Seconds = Annotated[float, msgspec.Meta(ge=0.0)]
Positive = Annotated[float, msgspec.Meta(gt=0.0)]
ParamValue = str | int | float | bool


class BalancerOptions(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Options of one cluster's balancer, validated once at config load."""

    # Shared mechanics (meshlb.balance.select.build_snapshot).
    panic_threshold: Percent = 50.0
    """Below this percentage of eligible endpoints, every endpoint is used (0 = never)."""
    slow_start_window: Seconds = 0.0
    """Ramp a newly healthy endpoint's weight over this many seconds (0 = off)."""
    slow_start_aggression: Positive = 1.0
    """Ramp curve exponent: >1 ramps faster early, <1 slower (Envoy's `aggression`)."""
    slow_start_min_weight_percent: Percent = 10.0
    """Floor of the ramp, in percent of the configured weight."""

    # least_request
    active_request_bias: Annotated[float, msgspec.Meta(ge=0.0, le=16.0)] = 1.0
    """Unequal weights: effective weight = weight / (active + 1) ** bias (0 = ignore load)."""
    choice_count: Annotated[int, msgspec.Meta(ge=2, le=64)] = 2
    """Equal weights: endpoints sampled per pick; the least loaded one wins."""

    # peak_ewma
    ewma_decay: Positive = 10.0
    """Time constant of the latency EWMA, in seconds."""
    ewma_default_rtt: Positive = 0.030
    """Latency assumed for an endpoint before its first response, in seconds."""

    # ring_hash and maglev
    min_ring_size: Annotated[int, msgspec.Meta(ge=1, le=1 << 23)] = 1024
    max_ring_size: Annotated[int, msgspec.Meta(ge=1, le=1 << 23)] = 1 << 20
    hash_balance_factor: Annotated[int, msgspec.Meta(ge=0)] = 0
    """Bounded load: cap each endpoint at this percent of the average load (0 = off)."""
    maglev_table_size: Annotated[int, msgspec.Meta(ge=3, le=5_000_011)] = 65537

    params: dict[str, ParamValue] = msgspec.field(default_factory=dict)
    """Free-form options for third-party balancers (`[clusters.NAME.lb.params]`)."""

    def __post_init__(self) -> None:
        if self.min_ring_size > self.max_ring_size:
            raise ValueError("min_ring_size must not exceed max_ring_size")
        if 0 < self.hash_balance_factor < 100:
            raise ValueError("hash_balance_factor must be 0 (off) or at least 100 (percent)")
        if not _is_prime(self.maglev_table_size):
            raise ValueError(
                f"maglev_table_size must be a prime number (got {self.maglev_table_size}; "
                "for example 251, 4099, 65537, 655373)"
            )


def _is_prime(n: int) -> bool:
    if n < 2:
        return False
    if n % 2 == 0:
        return n == 2
    divisor = 3
    while divisor * divisor <= n:
        if n % divisor == 0:
            return False
        divisor += 2
    return True
