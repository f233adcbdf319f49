"""Helpers shared by the balancer tests: endpoint factories and a fake-clock load simulation."""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Callable, Sequence

from meshlb.balance import Balancer, observer, select
from meshlb.model import Endpoint, PickContext, Snapshot


def endpoints(
    count: int, weights: Sequence[int] | None = None, cluster: str = "c"
) -> list[Endpoint]:
    """`count` endpoints 10.0.x.y:8080 with the given weights (default 1)."""
    weights = weights if weights is not None else [1] * count
    return [
        Endpoint(cluster, f"10.0.{i // 250}.{i % 250 + 1}", 8080, weight=w)
        for i, w in zip(range(count), weights, strict=True)
    ]


def snapshot(eps: Sequence[Endpoint], version: int = 1) -> Snapshot:
    return Snapshot.of(tuple(eps), version)


def pick_counts(
    balancer: Balancer,
    snap: Snapshot,
    picks: int,
    key: Callable[[int], int | None] = lambda i: None,
) -> Counter[Endpoint]:
    """How often each endpoint is chosen by `select` over `picks` requests."""
    counts: Counter[Endpoint] = Counter()
    ctx = PickContext()
    for i in range(picks):
        ctx.hash_key = key(i)
        chosen = select(balancer, ctx, snap)
        assert chosen is not None
        counts[chosen] += 1
    return counts


def simulate(
    balancer: Balancer,
    eps: Sequence[Endpoint],
    latency: dict[Endpoint, float],
    *,
    requests: int,
    interval: float,
    start: float = 1000.0,
) -> Counter[Endpoint]:
    """Requests arrive every `interval` seconds of a fake clock; each occupies its endpoint
    (`active_requests`) for that endpoint's latency, then completes and is reported to the
    balancer's `observe` if it has one. Returns how many requests each endpoint received."""
    snap = snapshot(eps)
    observe = observer(balancer)
    in_flight: list[tuple[float, int, Endpoint]] = []
    counts: Counter[Endpoint] = Counter()
    for n in range(requests):
        now = start + n * interval
        while in_flight and in_flight[0][0] <= now:
            done_at, _, done = heapq.heappop(in_flight)
            done.active_requests -= 1
            if observe is not None:
                observe(done, latency[done], done_at)
        chosen = select(balancer, PickContext(now=now), snap)
        assert chosen is not None
        chosen.active_requests += 1
        counts[chosen] += 1
        heapq.heappush(in_flight, (now + latency[chosen], n, chosen))
    for _, _, done in in_flight:
        done.active_requests -= 1
    return counts
