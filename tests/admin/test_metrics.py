"""The Prometheus exposition reads the snapshot at scrape time and reports it exactly."""

from __future__ import annotations

from itertools import accumulate

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from meshlb.admin.metrics import METRICS, MetricsExporter
from meshlb.admin.snapshot import LATENCY_BUCKETS
from tests.admin.fakes import FakeControl, sample_snapshot


def scrape(control: FakeControl) -> dict[str, list[Sample]]:
    text = MetricsExporter(control).render().decode()
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def values(samples: list[Sample], name: str, *keys: str) -> dict[tuple[str, ...], float]:
    return {tuple(s.labels[k] for k in keys): s.value for s in samples if s.name == name}


def test_every_documented_metric_is_exposed_with_its_type_and_nothing_else() -> None:
    text = MetricsExporter(FakeControl()).render().decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    documented = {name.removesuffix("_total"): kind for name, kind, _, _ in METRICS}
    assert {name: f.type for name, f in families.items()} == documented
    for name, kind, labels, meaning in METRICS:
        assert name.startswith("meshlb_") and meaning
        assert name.endswith("_total") == (kind == "counter")
        family = families[name.removesuffix("_total")]
        wanted = {label.strip() for label in labels.split(",") if label.strip()}
        for sample in family.samples:
            assert set(sample.labels) - {"le"} == wanted, sample


def test_downstream_requests_count_routes_by_status_class_and_unrouted_requests() -> None:
    samples = scrape(FakeControl())["meshlb_downstream_requests"]
    got = values(
        samples, "meshlb_downstream_requests_total", "listener", "route", "cluster", "code_class"
    )
    snap = sample_snapshot()
    for route in snap.routes:
        for i, code_class in enumerate(("1xx", "2xx", "3xx", "4xx", "5xx"), start=1):
            key = (route.listener, route.route, route.cluster, code_class)
            assert got.pop(key) == route.responses[i]
    assert got == {("edge", "", "", "4xx"): 6.0}  # unrouted: only non-zero classes


def test_connections_retries_overflows_ejections_checks_and_local_failures() -> None:
    snap = sample_snapshot()
    compute = snap.clusters[0]
    metrics = scrape(FakeControl())
    assert values(
        metrics["meshlb_downstream_connections_active"],
        "meshlb_downstream_connections_active",
        "listener",
    ) == {("edge",): 11.0}
    assert values(
        metrics["meshlb_downstream_connections"],
        "meshlb_downstream_connections_total",
        "listener",
    ) == {("edge",): 420.0}
    assert values(
        metrics["meshlb_upstream_retries"], "meshlb_upstream_retries_total", "cluster"
    ) == {("compute",): 7.0, ("assets",): 0.0}
    assert values(
        metrics["meshlb_upstream_overflow"], "meshlb_upstream_overflow_total", "cluster", "limit"
    ) == {("compute", k): float(v) for k, v in compute.overflows.items()}
    assert values(
        metrics["meshlb_outlier_ejections"], "meshlb_outlier_ejections_total", "cluster", "reason"
    ) == {("compute", "consecutive_5xx"): 2.0}
    assert values(
        metrics["meshlb_health_checks"], "meshlb_health_checks_total", "cluster", "result"
    ) == {("compute", "success"): 120.0, ("compute", "failure"): 9.0}
    assert values(metrics["meshlb_local_failures"], "meshlb_local_failures_total", "reason") == {
        (k,): float(v) for k, v in snap.local_failures.items()
    }
    assert metrics["meshlb_workers"][0].value == 2.0


def test_dropped_log_lines_are_counted_per_log() -> None:
    metrics = scrape(FakeControl())
    assert values(metrics["meshlb_log_lines_dropped"], "meshlb_log_lines_dropped_total", "log") == {
        ("access",): 7.0,
        ("meshlb",): 0.0,
    }


def test_endpoint_gauges_follow_each_endpoint() -> None:
    snap = sample_snapshot()
    metrics = scrape(FakeControl())
    healthy = values(
        metrics["meshlb_endpoint_healthy"], "meshlb_endpoint_healthy", "cluster", "endpoint"
    )
    active = values(
        metrics["meshlb_endpoint_active_requests"],
        "meshlb_endpoint_active_requests",
        "cluster",
        "endpoint",
    )
    sent = values(
        metrics["meshlb_endpoint_requests"],
        "meshlb_endpoint_requests_total",
        "cluster",
        "endpoint",
    )
    for cluster in snap.clusters:
        for e in cluster.endpoints:
            key = (cluster.name, e.address)
            assert healthy[key] == (1.0 if e.healthy else 0.0)
            assert active[key] == e.active_requests
            assert sent[key] == e.total_requests
    assert healthy[("compute", "10.0.0.2:8000")] == 0.0  # the ejected one
    assert values(metrics["meshlb_cluster_panic"], "meshlb_cluster_panic", "cluster") == {
        ("compute",): 0.0,
        ("assets",): 0.0,
    }


def test_duration_histogram_has_cumulative_buckets_sum_and_count() -> None:
    compute = sample_snapshot().clusters[0]
    samples = scrape(FakeControl())["meshlb_upstream_request_duration_seconds"]
    mine = [s for s in samples if s.labels["cluster"] == "compute"]
    buckets = {
        s.labels["le"]: s.value
        for s in mine
        if s.name == "meshlb_upstream_request_duration_seconds_bucket"
    }
    expected = list(accumulate(compute.latency_buckets))
    bounds = [str(float(b)) for b in LATENCY_BUCKETS] + ["+Inf"]
    assert [buckets[b] for b in bounds] == expected
    by_name = {s.name: s.value for s in mine}
    assert by_name["meshlb_upstream_request_duration_seconds_count"] == compute.latency_count
    assert by_name["meshlb_upstream_request_duration_seconds_sum"] == compute.latency_sum
    empty = [s for s in samples if s.labels["cluster"] == "assets" and s.labels.get("le")]
    assert len(empty) == len(LATENCY_BUCKETS) + 1
    assert all(s.value == 0 for s in empty)


def test_each_scrape_reads_a_fresh_snapshot() -> None:
    control = FakeControl()
    exporter = MetricsExporter(control)
    assert control.snapshots_taken == 0  # registering does not scrape
    exporter.render()
    control.current.clusters[0].retries = 99
    text = exporter.render().decode()
    assert 'meshlb_upstream_retries_total{cluster="compute"} 99.0' in text
    assert control.snapshots_taken == 2
