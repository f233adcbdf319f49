"""A `Control` with canned data, and a snapshot that exercises every field the admin shows."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from meshlb.admin.snapshot import (
    ClusterView,
    EndpointView,
    ListenerView,
    MetricsSnapshot,
    RouteView,
)

T0 = 1_700_000_000.0


def sample_snapshot() -> MetricsSnapshot:
    compute = ClusterView(
        name="compute",
        balancer="least_request",
        endpoints=[
            EndpointView(
                address="10.0.0.1:8000",
                weight=2,
                healthy=True,
                active_requests=3,
                active_connections=4,
                total_requests=1200,
                latency_avg_ms=12.5,
                last_reason="passed active health checks",
                last_change=T0 - 300,
            ),
            EndpointView(
                address="10.0.0.2:8000",
                weight=1,
                healthy=False,
                ejected=True,
                ejection_count=2,
                ejected_until=25.0,
                ejection_reason="5 consecutive 5xx",
                last_reason="ejected",
                last_change=T0 - 40,
                total_requests=300,
            ),
            EndpointView(
                address="10.0.0.3:8000",
                weight=1,
                healthy=False,
                failed_active_check=True,
                last_reason="http: status 503",
                last_change=T0 - 90,
                hooks=[{"kind": "command", "count": 1, "ok": False, "exit_code": 2, "error": ""}],
            ),
            EndpointView(
                address="10.0.0.4:8000",
                weight=1,
                healthy=False,
                draining=True,
                last_reason="admin",
                last_change=T0 - 5,
            ),
            EndpointView(
                address="10.0.0.5:8000",
                weight=1,
                healthy=True,
                slow_start=True,
                last_reason="passed active health checks",
                last_change=T0 - 2,
            ),
        ],
        retries=7,
        overflows={"pending": 3, "retries": 1},
        ejections={"consecutive_5xx": 2},
        health_checks={"success": 120, "failure": 9},
        # per bucket of LATENCY_BUCKETS, +Inf last
        latency_buckets=[0, 10, 40, 200, 500, 100, 50, 30, 20, 10, 5, 0, 0, 1],
        latency_sum=91.25,
        latency_count=966,
    )
    assets = ClusterView(
        name="assets",
        balancer="round_robin",
        endpoints=[EndpointView(address="10.0.1.1:80", weight=1, healthy=True)],
    )
    return MetricsSnapshot(
        taken_at=T0,
        workers=2,
        listeners=[
            ListenerView(
                name="edge",
                address="0.0.0.0:8080",
                active_connections=11,
                connections_total=420,
                requests_total=1550,
                unrouted=[0, 0, 0, 0, 6, 0],
            )
        ],
        routes=[
            RouteView(
                listener="edge", route="api", cluster="compute", responses=[0, 0, 900, 4, 40, 50]
            ),
            RouteView(
                listener="edge", route="static", cluster="assets", responses=[0, 0, 550, 0, 0, 0]
            ),
        ],
        clusters=[compute, assets],
        local_failures={"no_healthy_upstream": 4, "upstream_timeout": 2},
        log_lines_dropped={"access": 7, "meshlb": 0},
    )


Traffic = Callable[[MetricsSnapshot], None]


def steady_traffic(snapshot: MetricsSnapshot) -> None:
    """One second passes: compute answers 100 requests (2 of them 5xx), all under 50 ms."""
    snapshot.taken_at += 1.0
    snapshot.listeners[0].requests_total += 100
    api = snapshot.routes[0]
    api.responses[2] += 98
    api.responses[5] += 2
    compute = snapshot.clusters[0]
    compute.latency_buckets[4] += 100  # (10 ms, 25 ms]
    compute.latency_count += 100
    compute.latency_sum += 2.0
    compute.endpoints[0].total_requests += 100


class FakeControl:
    """Records what the admin asked; `traffic` (if set) advances the data on every snapshot."""

    def __init__(
        self, snapshot: MetricsSnapshot | None = None, traffic: Traffic | None = None
    ) -> None:
        self.current = snapshot if snapshot is not None else sample_snapshot()
        self.traffic = traffic
        self.is_ready = True
        self.reload_errors: list[str] = []
        self.reloads = 0
        self.drains: list[tuple[str, str, bool]] = []
        self.snapshots_taken = 0

    def snapshot(self) -> MetricsSnapshot:
        if self.traffic is not None and self.snapshots_taken:
            self.traffic(self.current)
        self.snapshots_taken += 1
        return copy.deepcopy(self.current)

    def config_view(self) -> dict[str, Any]:
        return {"listeners": [{"address": "0.0.0.0:8080"}], "admin": {"address": "127.0.0.1:0"}}

    def drain(self, cluster: str, address: str, draining: bool) -> str | None:
        for c in self.current.clusters:
            if c.name != cluster:
                continue
            for e in c.endpoints:
                if e.address == address:
                    self.drains.append((cluster, address, draining))
                    e.draining = draining
                    return None
            return f"cluster {cluster!r} has no endpoint {address}"
        return f"no cluster named {cluster!r}"

    async def reload(self) -> list[str]:
        self.reloads += 1
        return list(self.reload_errors)

    def ready(self) -> bool:
        return self.is_ready
