"""The admin side: JSON API, Prometheus metrics and the status page, over `Control`."""

from meshlb.admin.control import Control
from meshlb.admin.metrics import METRICS, MetricsExporter, SnapshotCollector
from meshlb.admin.server import AdminServer
from meshlb.admin.snapshot import (
    LATENCY_BUCKETS,
    ClusterView,
    EndpointView,
    ListenerView,
    MetricsSnapshot,
    RouteView,
    merge,
)

__all__ = [
    "LATENCY_BUCKETS",
    "METRICS",
    "AdminServer",
    "ClusterView",
    "Control",
    "EndpointView",
    "ListenerView",
    "MetricsExporter",
    "MetricsSnapshot",
    "RouteView",
    "SnapshotCollector",
    "merge",
]
