"""Per-process counters kept as plain integers on the hot path.

The admin API and the Prometheus exposition read these (through `meshlb.introspect`);
nothing here allocates per request. Per-route and per-cluster counts live on the routes and
clusters themselves.
"""

from __future__ import annotations

from collections import Counter


class Stats:
    __slots__ = ("downstream_connections_total", "requests_total", "local_failures")

    def __init__(self) -> None:
        self.downstream_connections_total = 0
        self.requests_total = 0
        self.local_failures: Counter[str] = Counter()  # Failure name -> count
