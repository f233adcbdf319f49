"""Prometheus exposition of a `MetricsSnapshot`, built at scrape time.

The data path keeps plain integer counters; nothing calls prometheus_client per request.
A scrape asks the `Control` for one snapshot (merged across workers) and `SnapshotCollector`
turns it into metric families. Names follow Prometheus conventions: a `meshlb_` prefix,
`_total` on counters, seconds for durations. `METRICS` documents every family.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import accumulate

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from meshlb.admin.control import Control
from meshlb.admin.snapshot import LATENCY_BUCKETS, MetricsSnapshot

CODE_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")  # index 1..5 of a responses list

# (name, type, labels, meaning): the reference table of the README, and the test's checklist.
METRICS: tuple[tuple[str, str, str, str], ...] = (
    (
        "meshlb_downstream_requests_total",
        "counter",
        "listener, route, cluster, code_class",
        "Responses sent to clients by status class; route and cluster are empty for "
        "requests no route took",
    ),
    ("meshlb_downstream_connections_active", "gauge", "listener", "Open client connections"),
    ("meshlb_downstream_connections_total", "counter", "listener", "Client connections accepted"),
    (
        "meshlb_upstream_request_duration_seconds",
        "histogram",
        "cluster",
        "Upstream request duration (sending the request to the response head)",
    ),
    ("meshlb_upstream_retries_total", "counter", "cluster", "Retried upstream attempts"),
    (
        "meshlb_upstream_overflow_total",
        "counter",
        "cluster, limit",
        "Requests refused by a resource limit (connections, pending, requests, retries)",
    ),
    (
        "meshlb_outlier_ejections_total",
        "counter",
        "cluster, reason",
        "Endpoints ejected by passive outlier detection",
    ),
    (
        "meshlb_health_checks_total",
        "counter",
        "cluster, result",
        "Active health check results (success, failure)",
    ),
    ("meshlb_cluster_panic", "gauge", "cluster", "1 while the cluster is in panic mode"),
    (
        "meshlb_endpoint_healthy",
        "gauge",
        "cluster, endpoint",
        "1 while the endpoint is eligible for traffic (checks, ejection and drain considered)",
    ),
    (
        "meshlb_endpoint_active_requests",
        "gauge",
        "cluster, endpoint",
        "Requests in flight to the endpoint",
    ),
    (
        "meshlb_endpoint_requests_total",
        "counter",
        "cluster, endpoint",
        "Requests sent to the endpoint",
    ),
    (
        "meshlb_local_failures_total",
        "counter",
        "reason",
        "Requests meshlb answered itself with an error, by cause",
    ),
    (
        "meshlb_log_lines_dropped_total",
        "counter",
        "log",
        "Log lines dropped because their output did not keep up (log: access, meshlb)",
    ),
    ("meshlb_workers", "gauge", "", "Worker processes whose counters are merged here"),
)

_HELP = {name: meaning for name, _, _, meaning in METRICS}


def _counter(name: str, labels: list[str]) -> CounterMetricFamily:
    return CounterMetricFamily(name, _HELP[name], labels=labels)


def _gauge(name: str, labels: list[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, _HELP[name], labels=labels)


def families(snapshot: MetricsSnapshot) -> Iterator[Metric]:
    """Every metric family of one snapshot (a pure function of it)."""
    requests = _counter(
        "meshlb_downstream_requests_total", ["listener", "route", "cluster", "code_class"]
    )
    for route in snapshot.routes:
        for i, code_class in enumerate(CODE_CLASSES, start=1):
            count = route.responses[i] if i < len(route.responses) else 0
            requests.add_metric([route.listener, route.route, route.cluster, code_class], count)
    active = _gauge("meshlb_downstream_connections_active", ["listener"])
    accepted = _counter("meshlb_downstream_connections_total", ["listener"])
    for lv in snapshot.listeners:
        for i, code_class in enumerate(CODE_CLASSES, start=1):
            count = lv.unrouted[i] if i < len(lv.unrouted) else 0
            if count:
                requests.add_metric([lv.name, "", "", code_class], count)
        active.add_metric([lv.name], lv.active_connections)
        accepted.add_metric([lv.name], lv.connections_total)
    yield from (requests, active, accepted)

    duration = HistogramMetricFamily(
        "meshlb_upstream_request_duration_seconds",
        _HELP["meshlb_upstream_request_duration_seconds"],
        labels=["cluster"],
    )
    retries = _counter("meshlb_upstream_retries_total", ["cluster"])
    overflow = _counter("meshlb_upstream_overflow_total", ["cluster", "limit"])
    ejections = _counter("meshlb_outlier_ejections_total", ["cluster", "reason"])
    checks = _counter("meshlb_health_checks_total", ["cluster", "result"])
    panic = _gauge("meshlb_cluster_panic", ["cluster"])
    healthy = _gauge("meshlb_endpoint_healthy", ["cluster", "endpoint"])
    in_flight = _gauge("meshlb_endpoint_active_requests", ["cluster", "endpoint"])
    sent = _counter("meshlb_endpoint_requests_total", ["cluster", "endpoint"])
    for c in snapshot.clusters:
        # The snapshot counts per bucket; Prometheus buckets are cumulative.
        per_bucket = list(c.latency_buckets) + [0] * (
            len(LATENCY_BUCKETS) + 1 - len(c.latency_buckets)
        )
        cumulative = list(accumulate(per_bucket))
        bounds = [repr(float(b)) for b in LATENCY_BUCKETS] + ["+Inf"]
        duration.add_metric([c.name], list(zip(bounds, cumulative, strict=True)), c.latency_sum)
        retries.add_metric([c.name], c.retries)
        for limit, count in sorted(c.overflows.items()):
            overflow.add_metric([c.name, limit], count)
        for reason, count in sorted(c.ejections.items()):
            ejections.add_metric([c.name, reason], count)
        for result, count in sorted(c.health_checks.items()):
            checks.add_metric([c.name, result], count)
        panic.add_metric([c.name], 1 if c.panic else 0)
        for e in c.endpoints:
            healthy.add_metric([c.name, e.address], 1 if e.healthy else 0)
            in_flight.add_metric([c.name, e.address], e.active_requests)
            sent.add_metric([c.name, e.address], e.total_requests)
    yield from (duration, retries, overflow, ejections, checks, panic, healthy, in_flight, sent)

    failures = _counter("meshlb_local_failures_total", ["reason"])
    for reason, count in sorted(snapshot.local_failures.items()):
        failures.add_metric([reason], count)
    dropped = _counter("meshlb_log_lines_dropped_total", ["log"])
    for log, count in sorted(snapshot.log_lines_dropped.items()):
        dropped.add_metric([log], count)
    workers = _gauge("meshlb_workers", [])
    workers.add_metric([], snapshot.workers)
    yield from (failures, dropped, workers)


class SnapshotCollector(Collector):
    """A prometheus_client collector that reads one fresh snapshot per scrape."""

    def __init__(self, control: Control) -> None:
        self.control = control

    def collect(self) -> Iterable[Metric]:
        return list(families(self.control.snapshot()))

    def describe(self) -> Iterable[Metric]:
        return []  # registering must not take a snapshot


class MetricsExporter:
    """Owns a registry with the snapshot collector; `render()` is one scrape."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, control: Control, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=False)
        self.collector = SnapshotCollector(control)
        self.registry.register(self.collector)

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def __repr__(self) -> str:
        return f"<MetricsExporter registry={id(self.registry):#x}>"
