"""Plain-data views of a running meshlb, for the admin API, metrics and the status page.

A worker produces a `MetricsSnapshot` from its live objects; with several workers the
supervisor merges theirs (`merge`), so every consumer reads one shape whatever the process
model. Everything here is msgspec Structs: cheap to build, and it crosses a pipe as
MessagePack unchanged.
"""

from __future__ import annotations

import msgspec

# Upper bounds (seconds) of the upstream request duration histogram, Prometheus-style.
LATENCY_BUCKETS: tuple[float, ...] = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


class EndpointView(msgspec.Struct, kw_only=True):
    address: str
    weight: int
    healthy: bool  # eligible for traffic right now (all flags considered)
    failed_active_check: bool = False
    ejected: bool = False
    ejection_count: int = 0
    ejected_until: float = 0.0  # seconds from now; 0 when not ejected
    ejection_reason: str = ""
    draining: bool = False
    slow_start: bool = False
    last_reason: str = ""
    last_change: float = 0.0  # unix time of the last transition
    active_requests: int = 0
    active_connections: int = 0
    total_requests: int = 0
    latency_avg_ms: float = 0.0
    hooks: list[dict[str, object]] = msgspec.field(default_factory=list)  # remediation runs


class ClusterView(msgspec.Struct, kw_only=True):
    name: str
    balancer: str
    endpoints: list[EndpointView]
    panic: bool = False
    retries: int = 0
    overflows: dict[str, int] = msgspec.field(default_factory=dict)  # limit name -> count
    ejections: dict[str, int] = msgspec.field(default_factory=dict)  # reason -> count
    health_checks: dict[str, int] = msgspec.field(default_factory=dict)  # "success"/"failure"
    # A count per LATENCY_BUCKETS bucket, NOT cumulative (a duration d lands in the first
    # bucket whose bound is >= d); the last count is for +Inf.
    latency_buckets: list[int] = msgspec.field(default_factory=list)
    latency_sum: float = 0.0
    latency_count: int = 0


class RouteView(msgspec.Struct, kw_only=True):
    listener: str
    route: str
    cluster: str
    responses: list[int]  # by status class: index 1..5 = 1xx..5xx


class ListenerView(msgspec.Struct, kw_only=True):
    name: str
    address: str
    active_connections: int = 0
    connections_total: int = 0
    requests_total: int = 0
    unrouted: list[int] = msgspec.field(default_factory=lambda: [0] * 6)


class MetricsSnapshot(msgspec.Struct, kw_only=True):
    taken_at: float  # unix time
    workers: int = 1
    listeners: list[ListenerView] = msgspec.field(default_factory=list)
    routes: list[RouteView] = msgspec.field(default_factory=list)
    clusters: list[ClusterView] = msgspec.field(default_factory=list)
    local_failures: dict[str, int] = msgspec.field(default_factory=dict)  # reason -> count
    # "access" or "meshlb" (its own log) -> lines dropped because the output did not keep up
    log_lines_dropped: dict[str, int] = msgspec.field(default_factory=dict)


def _add_counts(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    out = dict(a)
    for key, value in b.items():
        out[key] = out.get(key, 0) + value
    return out


def _add_lists(a: list[int], b: list[int]) -> list[int]:
    if len(a) < len(b):
        a = a + [0] * (len(b) - len(a))
    return [x + (b[i] if i < len(b) else 0) for i, x in enumerate(a)]


def merge(snapshots: list[MetricsSnapshot]) -> MetricsSnapshot:
    """Sum the counters of several workers' snapshots (health state is taken from the first:
    the supervisor owns it and sends the same to every worker)."""
    if not snapshots:
        return MetricsSnapshot(taken_at=0.0, workers=0)
    first = snapshots[0]
    listeners = {v.name: msgspec.structs.replace(v) for v in first.listeners}
    routes = {(v.listener, v.route): msgspec.structs.replace(v) for v in first.routes}
    clusters = {
        c.name: msgspec.structs.replace(
            c, endpoints=[msgspec.structs.replace(e) for e in c.endpoints]
        )
        for c in first.clusters
    }
    failures = dict(first.local_failures)
    dropped = dict(first.log_lines_dropped)
    for snap in snapshots[1:]:
        for lv in snap.listeners:
            mine = listeners.setdefault(
                lv.name,
                msgspec.structs.replace(
                    lv,
                    active_connections=0,
                    connections_total=0,
                    requests_total=0,
                    unrouted=[0] * 6,
                ),
            )
            if mine is not lv:
                mine.active_connections += lv.active_connections
                mine.connections_total += lv.connections_total
                mine.requests_total += lv.requests_total
                mine.unrouted = _add_lists(mine.unrouted, lv.unrouted)
        for rv in snap.routes:
            key = (rv.listener, rv.route)
            if key in routes:
                routes[key].responses = _add_lists(routes[key].responses, rv.responses)
            else:
                routes[key] = msgspec.structs.replace(rv)
        for cv in snap.clusters:
            mine_c = clusters.get(cv.name)
            if mine_c is None:
                clusters[cv.name] = msgspec.structs.replace(cv)
                continue
            mine_c.retries += cv.retries
            mine_c.overflows = _add_counts(mine_c.overflows, cv.overflows)
            mine_c.ejections = _add_counts(mine_c.ejections, cv.ejections)
            mine_c.latency_buckets = _add_lists(mine_c.latency_buckets, cv.latency_buckets)
            mine_c.latency_sum += cv.latency_sum
            mine_c.latency_count += cv.latency_count
            by_address = {e.address: e for e in cv.endpoints}
            for ev in mine_c.endpoints:
                other = by_address.get(ev.address)
                if other is not None:
                    total = ev.total_requests + other.total_requests
                    if total:
                        ev.latency_avg_ms = (
                            ev.latency_avg_ms * ev.total_requests
                            + other.latency_avg_ms * other.total_requests
                        ) / total
                    ev.active_requests += other.active_requests
                    ev.active_connections += other.active_connections
                    ev.total_requests = total
        failures = _add_counts(failures, snap.local_failures)
        dropped = _add_counts(dropped, snap.log_lines_dropped)
    return MetricsSnapshot(
        taken_at=max(s.taken_at for s in snapshots),
        workers=len(snapshots),
        listeners=list(listeners.values()),
        routes=list(routes.values()),
        clusters=list(clusters.values()),
        local_failures=failures,
        log_lines_dropped=dropped,
    )
