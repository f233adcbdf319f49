"""EndpointSet: the one owner of a cluster's endpoint state.

Theory of operation. Endpoint health flags (Envoy's host flags) are written here and nowhere
else; balancers read them only through the immutable `Snapshot` this class rebuilds:

    writer                         method                 flag(s)
    active health checker          set_active_health      healthy (false = failed_active_check)
    passive outlier detection      record, tick           ejected_until, ejection_count
    data path (429/503 + header)   record(retry_after=)   retry_after_until (read per request
                                                          by `select`, no rebuild needed)
    admin                          set_draining           draining

Every change of eligibility rebuilds the snapshot with `meshlb.balance.select.build_snapshot`
(panic threshold, slow start) and calls each subscriber with it; every transition sets the
endpoint's `last_reason` and is logged once (WARNING when an endpoint goes out, INFO when it
comes back). Time also changes snapshots (an ejection expiring, a slow-start ramp moving), so
the proxy calls `tick(now)` about every 100 ms: it returns after one comparison unless a
deadline (the snapshot's `next_rebuild_at`, the detector's `next_due`) has passed.

`record` runs after every upstream attempt and is the only per-request method besides
`admit`: a dict lookup and a few attribute writes, no allocation unless something changes.
`admit` closes the half-open gate of an endpoint whose ejection just ended: the data path
calls it after each pick, and it is one attribute test while no endpoint is probing.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

from meshlb.balance.options import BalancerOptions
from meshlb.balance.select import build_snapshot
from meshlb.health.config import OutlierConfig
from meshlb.health.outlier import ACTIVE, EJECTED, PROBING, OutlierDetector, Verdict
from meshlb.model import Clock, Endpoint, Snapshot, monotonic

log = logging.getLogger("meshlb.health")

MAX_RETRY_AFTER = 300.0  # seconds an endpoint is skipped at most after a Retry-After

Subscriber = Callable[[Snapshot], None]


class EndpointSet:
    def __init__(
        self,
        cluster: str,
        endpoints: Sequence[Endpoint],
        *,
        options: BalancerOptions | None = None,
        outlier: OutlierConfig | None = None,
        clock: Clock = monotonic,
    ) -> None:
        self.cluster = cluster
        self.endpoints: tuple[Endpoint, ...] = tuple(endpoints)
        self.options = options if options is not None else BalancerOptions()
        outlier = outlier if outlier is not None else OutlierConfig()
        self.clock = clock
        now = clock()
        self.outlier = OutlierDetector(outlier, self.endpoints, now) if outlier.enabled else None
        self._rise_unejects = outlier.active_rise_unejects
        self._by_address = {e.address: e for e in self.endpoints}
        self._last_change = dict.fromkeys(self.endpoints, 0.0)  # unix time, for the admin API
        self._subscribers: list[Subscriber] = []
        self._version = 0
        self._due = math.inf
        self.transitions = 0
        self.snapshot: Snapshot = self._build(now)

    # -- readers ----------------------------------------------------------------------------

    def subscribe(self, callback: Subscriber) -> None:
        """Call `callback(snapshot)` now and after every rebuild."""
        self._subscribers.append(callback)
        callback(self.snapshot)

    def find(self, address: str) -> Endpoint | None:
        return self._by_address.get(address)

    # -- writers ----------------------------------------------------------------------------

    def refresh(self, now: float | None = None) -> None:
        """Rebuild the snapshot and notify subscribers (after an outside change of weights)."""
        self._rebuild(self.clock() if now is None else now)

    def set_draining(
        self, endpoint: Endpoint, draining: bool, reason: str, now: float | None = None
    ) -> None:
        if endpoint.draining == draining:
            return
        endpoint.draining = draining
        self._transition(endpoint, "draining" if draining else "no longer draining", reason)
        self._rebuild(self.clock() if now is None else now)

    def set_active_health(self, endpoint: Endpoint, healthy: bool, reason: str, now: float) -> None:
        """The active health checker's verdict after a rise or a fall (not every check)."""
        if endpoint.healthy == healthy:
            return
        endpoint.healthy = healthy
        if healthy:
            endpoint.healthy_since = now
            self._transition(endpoint, "passed active health checks", reason, logging.INFO)
            if self.outlier is not None and self._rise_unejects:
                verdict = self.outlier.restore(endpoint, now, f"active health checks: {reason}")
                if verdict is not None:
                    self._apply(verdict, now)
        else:
            self._transition(endpoint, "failed active health checks", reason)
        self._rebuild(now)

    def record(
        self, endpoint: Endpoint, outcome: int, latency: float, now: float, retry_after: float = 0.0
    ) -> None:
        """Passive feedback after every upstream attempt.

        `outcome` is the response status, or a negative `meshlb.health.outcome.Fault` when no
        response head arrived; `latency` is seconds from sending to the response head (or to
        the failure); `retry_after` is the delay a 429/503 asked for (0 = none), for which the
        endpoint is skipped by `select` (at most MAX_RETRY_AFTER seconds).
        """
        if retry_after > 0.0:
            endpoint.retry_after_until = now + min(retry_after, MAX_RETRY_AFTER)
        detector = self.outlier
        if detector is not None:
            verdict = detector.observe(endpoint, outcome, latency, now)
            if verdict is not None:
                self._apply(verdict, now)
                self._rebuild(now)

    def admit(self, endpoint: Endpoint, now: float) -> bool:
        """May the request the balancer just assigned to `endpoint` go there? False only when
        the endpoint is half-open and its one probe request is already in flight: pick again
        with the endpoint counted as tried."""
        detector = self.outlier
        if detector is None or not detector.probing:
            return True
        return detector.admit(endpoint, now)

    def tick(self, now: float) -> None:
        """Rebuild if time changed the snapshot (ejections ending, slow-start ramps)."""
        if now < self._due:
            return
        detector = self.outlier
        verdicts = detector.sweep(now) if detector is not None and now >= detector.next_due else []
        for verdict in verdicts:
            self._apply(verdict, now)
        if verdicts or now >= getattr(self.snapshot, "next_rebuild_at", math.inf):
            self._rebuild(now)
        else:
            self._set_due()

    # -- internals --------------------------------------------------------------------------

    def _build(self, now: float) -> Snapshot:
        self._version += 1
        snapshot = build_snapshot(self.endpoints, self._version, now, self.options)
        self.snapshot = snapshot
        self._set_due()
        return snapshot

    def _set_due(self) -> None:
        due = getattr(self.snapshot, "next_rebuild_at", math.inf)
        if self.outlier is not None:
            due = min(due, self.outlier.next_due)
        self._due = due

    def _rebuild(self, now: float) -> None:
        snapshot = self._build(now)
        for callback in self._subscribers:
            callback(snapshot)

    def _apply(self, verdict: Verdict, now: float) -> None:
        endpoint = verdict.endpoint
        endpoint.ejection_count = verdict.ejections
        if verdict.state is EJECTED:
            endpoint.ejected_until = verdict.until
            what = f"ejected for {verdict.until - now:.3g}s (ejection #{verdict.ejections})"
            self._transition(endpoint, what, verdict.reason)
        elif verdict.state is PROBING:
            endpoint.ejected_until = 0.0
            self._transition(endpoint, "half-open", verdict.reason, logging.INFO)
        else:
            endpoint.ejected_until = 0.0
            endpoint.healthy_since = now
            self._transition(endpoint, "readmitted", verdict.reason, logging.INFO)

    def _transition(
        self, endpoint: Endpoint, what: str, reason: str, level: int = logging.WARNING
    ) -> None:
        self.transitions += 1
        self._last_change[endpoint] = time.time()
        endpoint.last_reason = f"{what}: {reason}"
        log.log(level, "cluster %s: %s %s: %s", self.cluster, endpoint.address, what, reason)

    # -- admin ------------------------------------------------------------------------------

    def describe(self, now: float) -> list[dict[str, Any]]:
        """Each endpoint's flags and counters, for the admin API (JSON-ready)."""
        snapshot = self.snapshot
        weights = dict(zip(snapshot.eligible, snapshot.weights, strict=True))
        window = self.options.slow_start_window
        out = []
        for e in self.endpoints:
            state = ACTIVE
            if self.outlier is not None:
                state = self.outlier.stats[e].state
            ejected = None
            if state is EJECTED:
                reason = self.outlier.stats[e].reason if self.outlier is not None else ""
                ejected = {
                    "count": e.ejection_count,
                    "until": round(max(e.ejected_until - now, 0.0), 3),
                    "reason": reason,
                }
            ramp = now - e.healthy_since
            out.append(
                {
                    "address": e.address,
                    "weight": e.weight,
                    "effective_weight": round(weights.get(e, 0.0), 3),
                    "eligible": e in weights,
                    "healthy": e.healthy and state is not EJECTED and not e.draining,
                    "failed_active_check": not e.healthy,
                    "ejected": ejected,
                    "half_open": state is PROBING,
                    "draining": e.draining,
                    "slow_start": round(window - ramp, 3)
                    if window > 0 and e.healthy_since > 0 and ramp < window
                    else None,
                    "retry_after": round(e.retry_after_until - now, 3)
                    if e.retry_after_until > now
                    else None,
                    "ejection_count": e.ejection_count,
                    "last_reason": e.last_reason,
                    "last_change": self._last_change.get(e, 0.0),
                    "active_requests": e.active_requests,
                    "total_requests": e.total_requests,
                }
            )
        return out

    def __repr__(self) -> str:
        snapshot = self.snapshot
        panic = " PANIC" if snapshot.panic else ""
        return (
            f"<EndpointSet {self.cluster} v{snapshot.version} "
            f"{len(snapshot.eligible)}/{len(self.endpoints)} eligible{panic}>"
        )
