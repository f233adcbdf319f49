"""Least request: prefer endpoints with fewer requests in flight (Envoy's LEAST_REQUEST).

Theory of operation. Two modes, chosen at rebuild from the snapshot's effective weights,
exactly as Envoy does:

- **Equal weights: power of two choices.** Draw `choice_count` endpoints uniformly at random
  (with replacement) and take the one with the fewest `active_requests`; ties go to the first
  drawn. Mitzenmacher's result: the maximum load drops exponentially compared with one random
  choice, while no global scan or shared state is needed. O(choice_count) per pick.
- **Unequal weights (including slow-start ramps): dynamic-weight EDF.** Each endpoint has a
  deadline in a heap; a pick takes the earliest one and pushes it back at
  `deadline + 1 / effective_weight`, with `effective_weight = weight / (active + 1) ** bias`
  read at pick time (`active_request_bias`; 0 ignores load and gives plain weighted round
  robin). With no requests in flight the shares equal the weights; a busy endpoint is
  pushed further out. O(log n) per pick. Initial deadlines get a random phase so worker
  processes do not start in step.

Use it for request/response HTTP clusters whose requests vary in cost: it adapts to slow
endpoints within a few requests, without needing latency measurements.
"""

from __future__ import annotations

import heapq
import random as _random

from meshlb.balance.base import usable_weights
from meshlb.balance.options import BalancerOptions
from meshlb.model import Endpoint, PickContext, Snapshot


class LeastRequest:
    """P2C on active requests, or EDF on weight / (active + 1) ** bias (`least_request`)."""

    def __init__(
        self, options: BalancerOptions | None = None, *, rng: _random.Random | None = None
    ) -> None:
        options = options or BalancerOptions()
        self._choices = options.choice_count
        self._extra_choices = options.choice_count - 2
        self._bias = options.active_request_bias
        self._rng = rng or _random.Random()
        self._uniform = self._rng.random
        self._bits = self._rng.getrandbits
        self._snapshot: Snapshot | None = None
        self._endpoints: list[Endpoint] = []
        self._weights: list[float] = []
        self._size = 0
        self._weighted = False
        self._heap: list[tuple[float, int]] = []

    def rebuild(self, snapshot: Snapshot) -> None:
        self._endpoints, self._weights = usable_weights(snapshot)
        self._size = len(self._endpoints)
        self._weighted = len(set(self._weights)) > 1
        uniform = self._uniform
        self._heap = [(uniform() / w, i) for i, w in enumerate(self._weights)]
        heapq.heapify(self._heap)
        self._snapshot = snapshot

    def pick(self, ctx: PickContext, snapshot: Snapshot) -> Endpoint | None:
        if snapshot is not self._snapshot:
            self.rebuild(snapshot)
        if self._weighted:
            return self._pick_edf()
        endpoints = self._endpoints
        size = self._size
        bits = self._bits
        if not size:
            return None
        # getrandbits(32) % size: half the cost of int(random() * size) in CPython, with a
        # modulo bias below size / 2**32 (2e-7 at 1,000 endpoints).
        best = endpoints[bits(32) % size]
        other = endpoints[bits(32) % size]
        if other.active_requests < best.active_requests:
            best = other
        if self._extra_choices:
            for _ in range(self._extra_choices):
                other = endpoints[bits(32) % size]
                if other.active_requests < best.active_requests:
                    best = other
        return best

    def _pick_edf(self) -> Endpoint:
        heap = self._heap
        deadline, i = heap[0]
        endpoint = self._endpoints[i]
        load: float = endpoint.active_requests + 1
        if self._bias != 1.0:
            load **= self._bias
        heapq.heapreplace(heap, (deadline + load / self._weights[i], i))
        return endpoint

    def __repr__(self) -> str:
        version = self._snapshot.version if self._snapshot else None
        mode = f"edf(bias={self._bias})" if self._weighted else f"p2c(choices={self._choices})"
        busiest = max((e.active_requests for e in self._endpoints), default=0)
        return f"<LeastRequest v={version} endpoints={self._size} {mode} max_active={busiest}>"
