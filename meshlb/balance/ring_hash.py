"""Ring hash: ketama-style consistent hashing (Envoy's RING_HASH).

Theory of operation. Every endpoint owns virtual nodes (vnodes) on a 64-bit ring, at
`hash_key(endpoint.key + b"#" + index)`. A request's `ctx.hash_key` (a random key when it has
none) belongs to the first vnode at or after it, found by binary search: O(log ring).

Removing an endpoint moves only the keys of its vnodes, and adding one moves only the keys
it takes over, provided no *other* endpoint's vnodes change. Envoy sizes vnodes from the
membership (`ceil(min_ring_size * w / W)`), which changes everyone's vnodes when one endpoint
comes or goes, remapping ~1/N extra keys each time. Here an endpoint of weight w has
`w * per_weight` vnodes, where `per_weight` is `min_ring_size / W` rounded *up to a power of
two*: the ring holds between `min_ring_size` and twice that many vnodes, and `per_weight` only
changes when total weight crosses a power of two. Weights are the configured ones (reduced by
their gcd), not slow-start ramps, so a ramping endpoint does not remap keys. Rings larger
than `max_ring_size` fall back to proportional rounding.

Optional bounded load (`hash_balance_factor`): a key whose endpoint is over its share walks
on along the ring (see `meshlb.balance.hashing.bounded_choice`).

Use it for cache affinity (same user, path or object on the same endpoint) when the
membership changes now and then; prefer maglev for faster picks and steadier spread at the
cost of a slower rebuild, and add bounded load when keys are skewed.
"""

from __future__ import annotations

import math
import random as _random
from bisect import bisect_left
from collections.abc import Sequence

from meshlb.balance.base import usable_configured
from meshlb.balance.hashing import bounded_choice, hash_key, normalised_shares
from meshlb.balance.options import BalancerOptions
from meshlb.model import Endpoint, PickContext, Snapshot


def vnode_counts(weights: Sequence[int], min_size: int, max_size: int) -> list[int]:
    """Vnodes per endpoint: proportional to weight, stable while total weight stays put."""
    if not weights:
        return []
    divisor = math.gcd(*weights)
    reduced = [w // divisor for w in weights]
    total = sum(reduced)
    per_weight = 1
    while total * per_weight < min_size:
        per_weight *= 2
    if total * per_weight <= max_size:
        return [w * per_weight for w in reduced]
    return [max(1, round(w * max_size / total)) for w in reduced]


class RingHash:
    """Consistent hashing on a vnode ring (`ring_hash` in config)."""

    def __init__(
        self, options: BalancerOptions | None = None, *, rng: _random.Random | None = None
    ) -> None:
        options = options or BalancerOptions()
        self._min_size = options.min_ring_size
        self._max_size = options.max_ring_size
        self._factor = options.hash_balance_factor
        self._random_key = (rng or _random.Random()).getrandbits
        self._snapshot: Snapshot | None = None
        self._endpoints: list[Endpoint] = []
        self._weights: list[int] = []
        self._points: list[int] = []
        self._owners: list[Endpoint] = []
        self._shares: dict[Endpoint, float] = {}

    def rebuild(self, snapshot: Snapshot) -> None:
        endpoints, weights = usable_configured(snapshot)
        if endpoints != self._endpoints or weights != self._weights:
            vnodes = vnode_counts(weights, self._min_size, self._max_size)
            ring = sorted(
                (hash_key(b"%s#%d" % (e.key, i)), n)
                for n, (e, count) in enumerate(zip(endpoints, vnodes, strict=True))
                for i in range(count)
            )
            self._points = [point for point, _ in ring]
            self._owners = [endpoints[n] for _, n in ring]
            self._shares = normalised_shares(endpoints, weights)
            self._endpoints, self._weights = endpoints, weights
        self._snapshot = snapshot

    def pick(self, ctx: PickContext, snapshot: Snapshot) -> Endpoint | None:
        if snapshot is not self._snapshot:
            self.rebuild(snapshot)
        key = ctx.hash_key
        if key is None:
            key = self._random_key(64)
        points = self._points
        i = bisect_left(points, key)
        if i == len(points):
            if not points:
                return None
            i = 0
        endpoint = self._owners[i]
        if self._factor and endpoint.active_requests:
            return bounded_choice(self._owners, i, self._shares, self._factor)
        return endpoint

    def __repr__(self) -> str:
        version = self._snapshot.version if self._snapshot else None
        bounded = f" bounded={self._factor}%" if self._factor else ""
        return (
            f"<RingHash v={version} endpoints={len(self._shares)} "
            f"ring={len(self._points)}{bounded}>"
        )
