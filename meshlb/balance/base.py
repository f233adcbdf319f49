"""The balancer plug-in interface, and the weight rule every algorithm shares.

A balancer chooses one endpoint of a `Snapshot`. `rebuild(snapshot)` is called once per new
snapshot (precompute schedules, rings and tables there); `pick(ctx, snapshot)` is called per
request and must cost well under a microsecond or two. Built-in balancers also rebuild lazily
when `pick` sees a snapshot other than the last one, so a missed `rebuild` is never a bug.

What is *not* an algorithm's job: health filtering, panic mode and slow start (the snapshot's
`eligible` and `weights` already reflect them, see `meshlb.balance.select.build_snapshot`), and
skipping endpoints already tried or backing off after a 429 (`meshlb.balance.select.select`).
A balancer must only ever return a member of `snapshot.eligible`, or None if it has none.

The weight rule: an eligible endpoint with weight 0 gets no traffic while any eligible endpoint
has a positive weight; if none has, all of them are used as if their weights were 1 (a cluster
configured with only zero weights still serves rather than answering 503).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol, runtime_checkable

from meshlb.model import Endpoint, PickContext, Snapshot


@runtime_checkable
class Balancer(Protocol):
    """Chooses one endpoint of a snapshot. One module per algorithm."""

    def rebuild(self, snapshot: Snapshot) -> None: ...

    def pick(self, ctx: PickContext, snapshot: Snapshot) -> Endpoint | None: ...


@runtime_checkable
class ObservingBalancer(Balancer, Protocol):
    """A latency-aware balancer: the data path reports each response's round-trip time."""

    def observe(self, endpoint: Endpoint, rtt_seconds: float, now: float) -> None: ...


def usable(
    endpoints: Sequence[Endpoint], weights: Iterable[float]
) -> tuple[list[Endpoint], list[float]]:
    """The endpoints that may receive traffic and their weights, by the weight rule above."""
    pairs = [(e, float(w)) for e, w in zip(endpoints, weights, strict=True) if w > 0]
    if pairs or not endpoints:
        return [e for e, _ in pairs], [w for _, w in pairs]
    return list(endpoints), [1.0] * len(endpoints)


def usable_weights(snapshot: Snapshot) -> tuple[list[Endpoint], list[float]]:
    """`usable` applied to the snapshot's effective weights (slow start included)."""
    return usable(snapshot.eligible, snapshot.weights)


def usable_configured(snapshot: Snapshot) -> tuple[list[Endpoint], list[int]]:
    """`usable` applied to configured weights, sorted by endpoint key.

    Hash-based balancers use these: ignoring slow start keeps a key on the same endpoint while
    its weight ramps (Envoy applies slow start only to round robin and least request), and
    sorting makes the table independent of snapshot order, so every worker process builds the
    same ring from the same membership.
    """
    endpoints, weights = usable(snapshot.eligible, (e.weight for e in snapshot.eligible))
    order = sorted(range(len(endpoints)), key=lambda i: endpoints[i].key)
    return [endpoints[i] for i in order], [int(weights[i]) for i in order]
