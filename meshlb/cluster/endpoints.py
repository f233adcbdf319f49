"""EndpointSet: the one owner of a cluster's endpoint state.

Active health checks, passive outlier detection and admin drain change endpoint flags only
through this class; each change rebuilds the `Snapshot` that balancers read and notifies
subscribers (the balancer's `rebuild`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from meshlb.model import Endpoint, Snapshot


class EndpointSet:
    def __init__(self, cluster: str, endpoints: Sequence[Endpoint]) -> None:
        self.cluster = cluster
        self.endpoints: tuple[Endpoint, ...] = tuple(endpoints)
        self._version = 0
        self._subscribers: list[Callable[[Snapshot], None]] = []
        self.snapshot = self._build()

    def subscribe(self, callback: Callable[[Snapshot], None]) -> None:
        self._subscribers.append(callback)
        callback(self.snapshot)

    def _build(self) -> Snapshot:
        self._version += 1
        eligible = tuple(e for e in self.endpoints if e.healthy and not e.draining)
        return Snapshot(
            version=self._version,
            endpoints=self.endpoints,
            eligible=eligible,
            weights=tuple(float(e.weight) for e in eligible),
        )

    def refresh(self) -> None:
        self.snapshot = self._build()
        for callback in self._subscribers:
            callback(self.snapshot)

    def find(self, address: str) -> Endpoint | None:
        for endpoint in self.endpoints:
            if endpoint.address == address:
                return endpoint
        return None

    def set_draining(self, endpoint: Endpoint, draining: bool, reason: str) -> None:
        if endpoint.draining != draining:
            endpoint.draining = draining
            endpoint.last_reason = reason
            self.refresh()

    def __repr__(self) -> str:
        eligible = len(self.snapshot.eligible)
        return f"<EndpointSet {self.cluster} {eligible}/{len(self.endpoints)} eligible>"
