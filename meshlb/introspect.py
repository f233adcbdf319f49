"""Build the plain-data `MetricsSnapshot` of one process from its live objects."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from meshlb.admin.snapshot import (
    ClusterView,
    EndpointView,
    ListenerView,
    MetricsSnapshot,
    RouteView,
)
from meshlb.config.redact import redact_hook_run
from meshlb.linewriter import process_log_dropped

if TYPE_CHECKING:
    from meshlb.app import App
    from meshlb.cluster.cluster import Cluster
    from meshlb.health.remediation import RemediationRunner


def endpoint_views(
    cluster: Cluster, now: float, runner: RemediationRunner | None = None
) -> list[EndpointView]:
    views = []
    by_address = {e.address: e for e in cluster.endpoint_set.endpoints}
    for row in cluster.endpoint_set.describe(now):
        endpoint = by_address[row["address"]]
        ejected: dict[str, Any] | None = row.get("ejected")
        views.append(
            EndpointView(
                address=row["address"],
                weight=row["weight"],
                healthy=bool(row["healthy"]),
                failed_active_check=bool(row.get("failed_active_check")),
                ejected=ejected is not None,
                ejection_count=int(row.get("ejection_count") or 0),
                ejected_until=float(ejected["until"]) if ejected else 0.0,
                ejection_reason=str(ejected["reason"]) if ejected else "",
                draining=bool(row.get("draining")),
                slow_start=row.get("slow_start") is not None,
                last_reason=str(row.get("last_reason") or ""),
                last_change=float(row.get("last_change") or endpoint.last_change),
                active_requests=endpoint.active_requests,
                active_connections=endpoint.active_connections,
                total_requests=endpoint.total_requests,
                latency_avg_ms=round(endpoint.latency_ewma * 1000, 3),
                hooks=[redact_hook_run(run) for run in runner.history(row["address"])]
                if runner is not None
                else [],
            )
        )
    return views


def cluster_view(
    cluster: Cluster, now: float, runner: RemediationRunner | None = None
) -> ClusterView:
    endpoint_set = cluster.endpoint_set
    outlier = getattr(endpoint_set, "outlier", None)
    ejections: dict[str, int] = dict(getattr(outlier, "ejections_by_reason", {}) or {})
    checker = getattr(cluster, "health_checker", None)
    health_checks: dict[str, int] = dict(getattr(checker, "results", {}) or {})
    limits = getattr(cluster, "limits", None)
    overflows: dict[str, int] = dict(getattr(limits, "overflows", {}) or {})
    return ClusterView(
        name=cluster.name,
        balancer=cluster.config.balancer,
        endpoints=endpoint_views(cluster, now, runner),
        panic=endpoint_set.snapshot.panic,
        retries=cluster.retries,
        overflows=overflows,
        ejections=ejections,
        health_checks=health_checks,
        latency_buckets=list(cluster.latency_buckets),
        latency_sum=cluster.latency_sum,
        latency_count=cluster.latency_count,
    )


def snapshot(app: App) -> MetricsSnapshot:
    now = time.monotonic()
    listeners = []
    routes = []
    for ctx in app.listeners:
        sessions = ctx.sessions
        listeners.append(
            ListenerView(
                name=ctx.name,
                address=ctx.config.address,
                active_connections=len(sessions),
                unrouted=list(ctx.unrouted),
            )
        )
        for route in ctx.router.routes:
            routes.append(
                RouteView(
                    listener=ctx.name,
                    route=route.name,
                    cluster=route.cluster.name,
                    responses=list(route.responses),
                )
            )
    for tcp in app.tcp_listeners:
        listeners.append(
            ListenerView(
                name=tcp.name, address=tcp.config.address, active_connections=len(tcp.sessions)
            )
        )
    stats = app.stats
    if listeners:
        listeners[0].connections_total = stats.downstream_connections_total
        listeners[0].requests_total = stats.requests_total
    return MetricsSnapshot(
        taken_at=time.time(),
        workers=1,
        listeners=listeners,
        routes=routes,
        clusters=[
            cluster_view(c, now, app.remediation.get(name)) for name, c in app.clusters.items()
        ],
        local_failures=dict(stats.local_failures),
        log_lines_dropped={
            "access": app.access_log.dropped if app.access_log is not None else 0,
            "meshlb": process_log_dropped(),
        },
    )
