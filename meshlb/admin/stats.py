"""What the status page shows: rates, error ratios and p99 from two snapshots.

A snapshot holds counters since start. Rates need two of them, so `RateWindow` keeps a few
recent snapshots (at most one per second, by their `taken_at`) and `summarize(current, base)`
turns the pair into per-second figures over the window between them. Everything is computed
here, in plain functions, so that the page's script only renders.

Endpoint state is one word, chosen by precedence (the first that applies): draining (an
operator's choice wins over health), ejected (passive outlier detection), failed-check
(active health checks), down (ineligible for another reason), slow-start, healthy.
"""

from __future__ import annotations

from collections import deque

import msgspec

from meshlb.admin.snapshot import LATENCY_BUCKETS, ClusterView, EndpointView, MetricsSnapshot

STATES = ("draining", "ejected", "failed-check", "down", "slow-start", "healthy")


class EndpointRow(msgspec.Struct, kw_only=True):
    address: str
    state: str
    weight: int
    active_requests: int
    total_requests: int
    rps: float | None
    latency_avg_ms: float
    last_change: float
    last_reason: str
    ejection_reason: str
    ejected_for: float  # seconds left of an ejection
    last_hook: dict[str, object] | None


class ClusterRow(msgspec.Struct, kw_only=True):
    name: str
    balancer: str
    panic: bool
    healthy: int
    total: int
    requests: int  # responses sent for this cluster's routes, since start
    errors: int  # of which 5xx
    rps: float | None
    error_rate: float | None  # 5xx share in the window; None without traffic in it
    p99_ms: float | None  # upstream duration, estimated from the histogram over the window
    endpoints: list[EndpointRow]


class ListenerRow(msgspec.Struct, kw_only=True):
    name: str
    address: str
    active_connections: int
    connections_total: int
    requests_total: int
    rps: float | None


class StatusDoc(msgspec.Struct, kw_only=True):
    taken_at: float
    window: float  # seconds between the two snapshots; 0 when there is only one
    workers: int
    listeners: list[ListenerRow]
    clusters: list[ClusterRow]
    local_failures: dict[str, int]


def endpoint_state(view: EndpointView) -> str:
    if view.draining:
        return "draining"
    if view.ejected:
        return "ejected"
    if view.failed_active_check:
        return "failed-check"
    if not view.healthy:
        return "down"
    return "slow-start" if view.slow_start else "healthy"


def quantile(buckets: list[int], q: float) -> float | None:
    """The q-quantile (seconds) of per-bucket counts aligned with LATENCY_BUCKETS (+Inf last).

    Linear interpolation inside the bucket that holds the rank, as Prometheus's
    histogram_quantile does; a rank in the +Inf bucket reports the highest finite bound."""
    total = sum(buckets)
    if total <= 0:
        return None
    rank = q * total
    seen = 0
    lower = 0.0
    for i, count in enumerate(buckets):
        if i >= len(LATENCY_BUCKETS):
            return LATENCY_BUCKETS[-1]
        upper = LATENCY_BUCKETS[i]
        if count > 0 and seen + count >= rank:
            return lower + (upper - lower) * (rank - seen) / count
        seen += count
        lower = upper
    return LATENCY_BUCKETS[-1]


def _delta(now: list[int], then: list[int] | None) -> list[int]:
    if then is None:
        return list(now)
    return [max(0, x - (then[i] if i < len(then) else 0)) for i, x in enumerate(now)]


def _rate(now: int, then: int | None, window: float) -> float | None:
    if then is None or window <= 0:
        return None
    return max(0, now - then) / window


def _cluster_responses(snapshot: MetricsSnapshot) -> dict[str, list[int]]:
    by_cluster: dict[str, list[int]] = {}
    for route in snapshot.routes:
        counts = by_cluster.setdefault(route.cluster, [0] * 6)
        for i, n in enumerate(route.responses[:6]):
            counts[i] += n
    return by_cluster


def _cluster_row(
    cluster: ClusterView,
    responses: list[int],
    base: ClusterView | None,
    base_responses: list[int] | None,
    window: float,
) -> ClusterRow:
    requests, errors = sum(responses[1:6]), responses[5]
    rps = error_rate = p99 = None
    if base is not None and window > 0:
        then = base_responses or [0] * 6
        d_requests = max(0, requests - sum(then[1:6]))
        d_errors = max(0, errors - then[5])
        rps = d_requests / window
        error_rate = d_errors / d_requests if d_requests else None
        latency = quantile(_delta(cluster.latency_buckets, base.latency_buckets), 0.99)
        p99 = latency * 1000 if latency is not None else None
    base_eps = {e.address: e for e in base.endpoints} if base is not None else {}
    rows = []
    for e in cluster.endpoints:
        before = base_eps.get(e.address)
        rows.append(
            EndpointRow(
                address=e.address,
                state=endpoint_state(e),
                weight=e.weight,
                active_requests=e.active_requests,
                total_requests=e.total_requests,
                rps=_rate(e.total_requests, before.total_requests if before else None, window),
                latency_avg_ms=e.latency_avg_ms,
                last_change=e.last_change,
                last_reason=e.last_reason,
                ejection_reason=e.ejection_reason,
                ejected_for=e.ejected_until,
                last_hook=e.hooks[-1] if e.hooks else None,
            )
        )
    return ClusterRow(
        name=cluster.name,
        balancer=cluster.balancer,
        panic=cluster.panic,
        healthy=sum(1 for e in cluster.endpoints if e.healthy),
        total=len(cluster.endpoints),
        requests=requests,
        errors=errors,
        rps=rps,
        error_rate=error_rate,
        p99_ms=p99,
        endpoints=rows,
    )


def summarize(current: MetricsSnapshot, base: MetricsSnapshot | None) -> StatusDoc:
    """The status page's document: `current`'s state, with rates over `base` -> `current`."""
    window = current.taken_at - base.taken_at if base is not None else 0.0
    if window <= 0:
        base, window = None, 0.0
    responses = _cluster_responses(current)
    base_responses = _cluster_responses(base) if base is not None else {}
    base_clusters = {c.name: c for c in base.clusters} if base is not None else {}
    base_listeners = {v.name: v for v in base.listeners} if base is not None else {}
    clusters = []
    for c in current.clusters:
        base_c = base_clusters.get(c.name)
        if base is not None and base_c is None:
            base_c = ClusterView(name=c.name, balancer=c.balancer, endpoints=[])
        clusters.append(
            _cluster_row(
                c, responses.get(c.name, [0] * 6), base_c, base_responses.get(c.name), window
            )
        )
    listeners = []
    for v in current.listeners:
        before = base_listeners.get(v.name)
        then = before.requests_total if before else (0 if base is not None else None)
        listeners.append(
            ListenerRow(
                name=v.name,
                address=v.address,
                active_connections=v.active_connections,
                connections_total=v.connections_total,
                requests_total=v.requests_total,
                rps=_rate(v.requests_total, then, window),
            )
        )
    return StatusDoc(
        taken_at=current.taken_at,
        window=window,
        workers=current.workers,
        listeners=listeners,
        clusters=clusters,
        local_failures=dict(current.local_failures),
    )


class RateWindow:
    """Recent snapshots, at most one per `step` seconds, kept for up to `span` seconds.

    `observe(snapshot)` returns the oldest kept snapshot to compare with: rates then cover
    the last few seconds whoever polls and however often."""

    def __init__(self, *, step: float = 1.0, span: float = 10.0) -> None:
        self.step = step
        self.span = span
        self._samples: deque[MetricsSnapshot] = deque()

    def observe(self, snapshot: MetricsSnapshot) -> MetricsSnapshot | None:
        now = snapshot.taken_at
        samples = self._samples
        if samples and now < samples[-1].taken_at:  # the clock went back: start over
            samples.clear()
        while len(samples) > 1 and now - samples[1].taken_at >= self.span:
            samples.popleft()
        base = samples[0] if samples else None
        if not samples or now - samples[-1].taken_at >= self.step:
            samples.append(snapshot)
        return base if base is not None and base.taken_at < now else None

    def __repr__(self) -> str:
        return f"<RateWindow samples={len(self._samples)} step={self.step}s span={self.span}s>"
