"""Per-process counters kept as plain integers on the hot path.

The admin API and the Prometheus exposition read these; nothing here allocates per request.
"""

from __future__ import annotations

from collections import Counter


class Stats:
    __slots__ = (
        "downstream_connections_total",
        "downstream_connections_active",
        "requests_total",
        "local_failures",
        "upstream_retries",
    )

    def __init__(self) -> None:
        self.downstream_connections_total = 0
        self.downstream_connections_active = 0
        self.requests_total = 0
        self.local_failures: Counter[str] = Counter()  # Failure name -> count
        self.upstream_retries = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "downstream_connections_total": self.downstream_connections_total,
            "downstream_connections_active": self.downstream_connections_active,
            "requests_total": self.requests_total,
            "local_failures": dict(self.local_failures),
            "upstream_retries": self.upstream_retries,
        }
