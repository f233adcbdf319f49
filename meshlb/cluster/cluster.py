"""A cluster at run time: its endpoints, balancer, connection pool and upstream policy."""

from __future__ import annotations

import time
from bisect import bisect_left

from meshlb import balance
from meshlb.admin.snapshot import LATENCY_BUCKETS
from meshlb.balance.base import Balancer
from meshlb.balance.select import select
from meshlb.balance.sticky import StickyIndex
from meshlb.cluster.endpoints import EndpointSet
from meshlb.config.load import endpoint_list
from meshlb.config.schema import ClusterConfig
from meshlb.config.units import parse_address
from meshlb.health.checker import HealthChecker
from meshlb.model import Endpoint, PickContext, Snapshot
from meshlb.resilience.limits import ResourceLimits
from meshlb.resilience.retry import RetryPolicy
from meshlb.upstream.pool import Pool, Waiter

IDEMPOTENT_METHODS = frozenset({b"GET", b"HEAD", b"OPTIONS", b"TRACE", b"PUT", b"DELETE"})


class Cluster:
    __slots__ = (
        "name",
        "config",
        "endpoint_set",
        "balancer",
        "pool",
        "timeout",
        "max_retries",
        "replay_limit",
        "sticky",
        "observe",
        "latency_buckets",
        "latency_sum",
        "latency_count",
        "retries",
        "retry",
        "limits",
        "per_try_timeout",
        "health_checker",
    )

    def __init__(self, name: str, config: ClusterConfig, previous: Cluster | None = None) -> None:
        """`previous`: the cluster of that name before a reload; endpoints that still exist
        keep their Endpoint object, so health, ejection and drain state survive the reload."""
        self.name = name
        self.config = config
        known: dict[str, Endpoint] = {}
        if previous is not None:
            known = {e.address: e for e in previous.endpoint_set.endpoints}
        endpoints = []
        for ec in endpoint_list(config):
            host, port = parse_address(ec.address)
            endpoint = Endpoint(cluster=name, host=host, port=port, weight=ec.weight)
            kept = known.get(endpoint.address)
            if kept is not None:
                kept.weight = ec.weight
                endpoint = kept
            endpoints.append(endpoint)
        self.endpoint_set: EndpointSet = EndpointSet(
            name, endpoints, options=config.lb, outlier=config.outlier
        )
        self.retry = RetryPolicy(config.retry)
        self.limits: ResourceLimits[Waiter] = ResourceLimits(config.limits, name, time.monotonic())
        self.per_try_timeout = float(config.retry.per_try_timeout)
        self.health_checker: HealthChecker | None = None  # started by the app where it runs
        self.balancer: Balancer = balance.create(config.balancer, config.lb)
        self.pool = Pool(name, config.pool, config.connect_timeout)
        self.pool.limits = self.limits
        self.timeout = float(config.timeout)
        self.max_retries = config.retry.retries
        self.replay_limit = int(config.retry.replay_buffer)
        self.endpoint_set.subscribe(self.balancer.rebuild)
        self.sticky = StickyIndex()
        self.observe = balance.observer(self.balancer)  # latency samples, if it wants them
        # Upstream request durations: a count per LATENCY_BUCKETS bucket (not cumulative),
        # the last one for +Inf.
        self.latency_buckets = [0] * (len(LATENCY_BUCKETS) + 1)
        self.latency_sum = 0.0
        self.latency_count = 0
        self.retries = 0

    def record_latency(self, seconds: float) -> None:
        self.latency_buckets[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.latency_sum += seconds
        self.latency_count += 1

    @property
    def snapshot(self) -> Snapshot:
        return self.endpoint_set.snapshot

    def pick(self, ctx: PickContext) -> Endpoint | None:
        """The balancer's choice through the shared mechanics (`balance.select`), gated by the
        outlier detector's half-open state: one probe request at a time to an endpoint whose
        ejection just ended."""
        endpoints = self.endpoint_set
        snapshot = endpoints.snapshot
        result = select(self.balancer, ctx, snapshot)
        detector = endpoints.outlier
        if result is None or detector is None or not detector.probing:
            return result  # the common case, without a half-open endpoint anywhere
        for _ in range(3):
            if endpoints.admit(result, ctx.now):
                return result
            ctx.tried = (*ctx.tried, result)
            result = select(self.balancer, ctx, snapshot)
            if result is None:
                return None
        return result if endpoints.admit(result, ctx.now) else None

    def __repr__(self) -> str:
        return f"<Cluster {self.name} {self.endpoint_set!r} balancer={self.config.balancer}>"
