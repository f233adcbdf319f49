"""Resource limits of one cluster (what Envoy calls "circuit breaking" thresholds).

These are limits, not failure detection: they cap how much of the proxy one cluster may hold
(connections, queued requests, requests and retries in flight) whatever the endpoints' health,
so that a slow cluster cannot take every socket and every byte of memory with it. Ejecting
failing endpoints is outlier detection's job (`meshlb.health.outlier`).

Theory of operation. Every limit is a counter and a ceiling (0 = no ceiling):

    resource      acquire (data path)          release               on overflow
    request       try_acquire_request()        release_request()     503, reason max_requests
    connection    try_acquire_connection()     release_connection()  park the request: enqueue
    pending       enqueue(waiter, deadline)    dequeue*/remove       503, max_pending_requests
    retry         try_acquire_retry()          release_retry()       no retry (answer as is)

A retry must pass both `max_retries` and the retry budget (`RetryBudget`: retries at most
`retry_budget_percent` of the requests of the last `retry_budget_window` plus
`min_retries_per_second`, but always `min_retry_concurrency` in flight). Each acquired
request deposits into the budget.

The pending queue is FIFO. The data path parks a request it cannot give a connection to, and
hands connections out as they come back: `dequeue()` when it holds an idle connection for the
oldest waiter, `dequeue_ready()` when a connection closed and a new one may be opened. It
calls `tick(now)` from its periodic tick (it moves the budget window and returns the waiters
that waited `pending_timeout`, to be answered 503), and `remove(waiter)` when a queued client
goes away.

Everything is synchronous and allocation-free on the request path; `__repr__` and `counters()`
report occupancy and overflows per limit.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Generic, TypeVar

from meshlb.resilience.config import LimitsConfig
from meshlb.resilience.retry import RetryBudget

W = TypeVar("W")

LIMIT_NAMES = ("max_connections", "max_pending_requests", "max_requests", "max_retries")


class ResourceLimits(Generic[W]):
    __slots__ = (
        "cluster",
        "config",
        "max_connections",
        "max_pending",
        "max_requests",
        "max_retries",
        "pending_timeout",
        "budget",
        "connections",
        "requests",
        "retries",
        "overflow",
        "_queue",
        "_earliest",
    )

    def __init__(self, config: LimitsConfig, cluster: str = "", now: float = 0.0) -> None:
        self.cluster = cluster
        self.config = config
        self.max_connections = config.max_connections
        self.max_pending = config.max_pending_requests
        self.max_requests = config.max_requests
        self.max_retries = config.max_retries
        self.pending_timeout = float(config.pending_timeout)
        self.budget = (
            RetryBudget(
                config.retry_budget_percent,
                config.min_retry_concurrency,
                float(config.retry_budget_window),
                now,
                config.min_retries_per_second,
            )
            if config.retry_budget_percent > 0
            else None
        )
        self.connections = 0
        self.requests = 0
        self.retries = 0
        self.overflow = dict.fromkeys((*LIMIT_NAMES, "retry_budget", "pending_timeout"), 0)
        self._queue: deque[tuple[float, W]] = deque()
        self._earliest = math.inf

    # -- requests, connections, retries ------------------------------------------------------

    def try_acquire_request(self) -> bool:
        if self.max_requests and self.requests >= self.max_requests:
            self.overflow["max_requests"] += 1
            return False
        self.requests += 1
        if self.budget is not None:
            self.budget.on_request()
        return True

    def release_request(self) -> None:
        if self.requests > 0:
            self.requests -= 1

    def try_acquire_connection(self) -> bool:
        """May a new upstream connection be opened? (Does not count an overflow: the caller
        parks the request with `enqueue`, which counts if the queue is full.)"""
        if self.max_connections and self.connections >= self.max_connections:
            return False
        self.connections += 1
        return True

    def release_connection(self) -> None:
        if self.connections > 0:
            self.connections -= 1

    def try_acquire_retry(self) -> bool:
        if self.max_retries and self.retries >= self.max_retries:
            self.overflow["max_retries"] += 1
            return False
        budget = self.budget
        if budget is not None:
            if not budget.allows(self.retries):
                self.overflow["retry_budget"] += 1
                return False
            budget.on_retry()
        self.retries += 1
        return True

    def release_retry(self) -> None:
        if self.retries > 0:
            self.retries -= 1

    # -- the pending queue ------------------------------------------------------------------

    @property
    def pending(self) -> int:
        return len(self._queue)

    def enqueue(self, waiter: W, deadline: float) -> bool:
        """Park `waiter` until a connection frees up or `deadline`; False if the queue is full."""
        if self.max_pending and len(self._queue) >= self.max_pending:
            self.overflow["max_pending_requests"] += 1
            return False
        self._queue.append((deadline, waiter))
        self._earliest = min(self._earliest, deadline)
        return True

    def dequeue(self) -> W | None:
        """The oldest waiter (the caller has a connection for it), or None."""
        return self._queue.popleft()[1] if self._queue else None

    def dequeue_ready(self) -> W | None:
        """The oldest waiter if a new connection may be opened for it (the slot is taken for
        it, as by `try_acquire_connection`), else None."""
        if not self._queue or not self.try_acquire_connection():
            return None
        return self._queue.popleft()[1]

    def remove(self, waiter: W) -> bool:
        """Forget a waiter whose client went away; False if it was not queued."""
        for i, (_, queued) in enumerate(self._queue):
            if queued is waiter:
                del self._queue[i]
                return True
        return False

    def tick(self, now: float) -> list[W]:
        """Periodic upkeep: advance the retry budget's window; return expired waiters."""
        if self.budget is not None:
            self.budget.advance(now)
        return self.expire(now)

    def expire(self, now: float) -> list[W]:
        """Remove and return the waiters whose deadline passed (the caller answers 503)."""
        if now < self._earliest:
            return []
        expired = [w for deadline, w in self._queue if deadline <= now]
        kept = [(deadline, w) for deadline, w in self._queue if deadline > now]
        self._queue = deque(kept)
        self._earliest = min((deadline for deadline, _ in kept), default=math.inf)
        self.overflow["pending_timeout"] += len(expired)
        return expired

    # -- reporting --------------------------------------------------------------------------

    def reason(self, limit: str) -> str:
        """The text a 503 carries when `limit` overflowed."""
        if limit == "pending_timeout":
            return f"no upstream connection within {self.pending_timeout:g}s"
        if limit == "retry_budget":
            return "retry budget exhausted"
        ceiling = getattr(self, {"max_pending_requests": "max_pending"}.get(limit, limit))
        return f"upstream overloaded: {limit} ({ceiling}) reached"

    @property
    def overflows(self) -> dict[str, int]:
        """Overflows per limit (and retry budget, pending timeout), for the admin API."""
        return dict(self.overflow)

    def counters(self) -> dict[str, int]:
        gauges = {
            "connections": self.connections,
            "pending": self.pending,
            "requests": self.requests,
            "retries": self.retries,
        }
        return gauges | {f"overflow_{name}": n for name, n in self.overflow.items()}

    def __repr__(self) -> str:
        def of(n: int, ceiling: int) -> str:
            return f"{n}/{ceiling or 'inf'}"

        overflowed = sum(self.overflow.values())
        return (
            f"<ResourceLimits {self.cluster} conns={of(self.connections, self.max_connections)} "
            f"pending={of(self.pending, self.max_pending)} "
            f"requests={of(self.requests, self.max_requests)} "
            f"retries={of(self.retries, self.max_retries)} overflows={overflowed}>"
        )
