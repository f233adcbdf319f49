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
        "responses_by_class",
        "local_failures",
        "upstream_retries",
        "requests_by_route",
    )

    def __init__(self) -> None:
        self.downstream_connections_total = 0
        self.downstream_connections_active = 0
        self.requests_total = 0
        self.responses_by_class = [0] * 6  # index = status // 100
        self.local_failures: Counter[str] = Counter()  # Failure name -> count
        self.upstream_retries = 0
        self.requests_by_route: Counter[tuple[str, str, str, int]] = Counter()

    def record_response(self, listener: str, route: str, cluster: str, status: int) -> None:
        self.responses_by_class[status // 100 if status < 600 else 5] += 1
        self.requests_by_route[(listener, route, cluster, status // 100)] += 1

    def as_dict(self) -> dict[str, object]:
        return {
            "downstream_connections_total": self.downstream_connections_total,
            "downstream_connections_active": self.downstream_connections_active,
            "requests_total": self.requests_total,
            "responses_by_class": {f"{i}xx": n for i, n in enumerate(self.responses_by_class) if i},
            "local_failures": dict(self.local_failures),
            "upstream_retries": self.upstream_retries,
        }
