"""Ring hash: ketama-style consistent hashing (Envoy's RING_HASH).

Theory of operation. Every endpoint owns virtual nodes (vnodes) on a 64-bit ring; a request's
`ctx.hash_key` (a random key when it has none) belongs to the first vnode at or after it,
found by binary search: O(log ring). An endpoint's vnode positions are the 64-bit words of
the SHAKE-128 stream of its key: they depend on the endpoint alone, and its first c
positions are the same whatever c is.

Removing an endpoint moves only the keys of its vnodes, and adding one moves only the keys
it takes over, *provided no other endpoint's vnode count changes*. Envoy sizes vnodes from
the membership (`ceil(min_ring_size / N)` each for equal weights), so every change also
moves about 1/N of the keys between endpoints that stayed. Here, as in ketama, an endpoint
of weight w (weights reduced by their gcd) gets `w * 256` vnodes whatever the membership,
so one endpoint coming or going moves its own share of keys and nothing else. 256 because
an endpoint's share of the ring varies by about 1/sqrt(vnodes): at 256 it stays within
+-20 % of its weight share at 3.2 sigma, which keeps one change among 10 endpoints under
1/10 + 2 % of keys (ketama's 160 gives 2.5 sigma). `min_ring_size` is honoured as a floor:
while the total weight is below `min_ring_size / 256` (fewer than 4 equal endpoints by
default), each unit of weight gets `ceil(min_ring_size / total weight)` vnodes instead, and
changes in such small clusters move more keys. Rings over `max_ring_size` are scaled down.

Weights are the configured ones, not slow-start ramps, so a ramping endpoint does not remap
keys. Rebuilding costs ~1 ms at 10 endpoints, ~10 ms at 100 and ~120 ms at 1,000 (mostly
sorting 256,000 vnodes), and is skipped when the usable membership is unchanged. Optional
bounded load (`hash_balance_factor`): a key whose endpoint is over its share walks on along
the ring (see `meshlb.balance.hashing.bounded_choice`).

Use it for cache affinity (same user, path or object on the same endpoint) in clusters of
up to a few hundred endpoints. Maglev picks faster, spreads keys more evenly and rebuilds
in constant time, at the price of slightly more movement on membership changes; add
bounded load when some keys are much hotter than others.
"""

from __future__ import annotations

import hashlib
import math
import random as _random
import struct
from bisect import bisect_left
from collections.abc import Sequence

from meshlb.balance.base import usable_configured
from meshlb.balance.hashing import bounded_choice, normalised_shares
from meshlb.balance.options import BalancerOptions
from meshlb.model import Endpoint, PickContext, Snapshot

VNODES_PER_WEIGHT = 256
OWNER_BITS = 20  # a ring entry's low bits name its endpoint: up to 2**20 endpoints
OWNER_MASK = (1 << OWNER_BITS) - 1
_MASK64 = (1 << 64) - 1
POSITION_MASK = _MASK64 ^ OWNER_MASK


def vnode_counts(weights: Sequence[int], min_size: int, max_size: int) -> list[int]:
    """Vnodes per endpoint: 256 per unit of weight, more in rings under `min_size`."""
    if not weights:
        return []
    divisor = math.gcd(*weights)
    reduced = [w // divisor for w in weights]
    total = sum(reduced)
    per_weight = max(VNODES_PER_WEIGHT, -(-min_size // total))
    if total * per_weight <= max_size:
        return [w * per_weight for w in reduced]
    return [max(1, round(w * max_size / total)) for w in reduced]


def vnode_positions(key: bytes, count: int) -> tuple[int, ...]:
    """The first `count` ring positions of the endpoint with this key (prefix-stable)."""
    stream = hashlib.shake_128(b"meshlb-ring:" + key).digest(8 * count)
    return struct.unpack(f"<{count}Q", stream)


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
        self._ring: list[int] = []
        self._shift = 64
        self._starts = [0, 0]
        self._shares: dict[Endpoint, float] = {}

    def rebuild(self, snapshot: Snapshot) -> None:
        endpoints, weights = usable_configured(snapshot)
        if endpoints != self._endpoints or weights != self._weights:
            if len(endpoints) > OWNER_MASK + 1:
                raise ValueError(f"ring_hash supports at most {OWNER_MASK + 1} endpoints")
            # Each entry is a position with its low OWNER_BITS replaced by the endpoint's index
            # (endpoints are sorted by key): one list of machine-sized ints sorts twice as fast
            # as (position, owner) pairs, and equal truncated positions order by key, the same
            # way in every process.
            ring: list[int] = []
            vnodes = vnode_counts(weights, self._min_size, self._max_size)
            for index, (endpoint, count) in enumerate(zip(endpoints, vnodes, strict=True)):
                ring.extend(
                    [p & POSITION_MASK | index for p in vnode_positions(endpoint.key, count)]
                )
            ring.sort()
            self._ring = ring
            self._index_ring()
            self._shares = normalised_shares(endpoints, weights)
            self._endpoints, self._weights = endpoints, weights
        self._snapshot = snapshot

    def pick(self, ctx: PickContext, snapshot: Snapshot) -> Endpoint | None:
        if snapshot is not self._snapshot:
            self.rebuild(snapshot)
        key = ctx.hash_key
        if key is None:
            key = self._random_key(64)
        key &= _MASK64  # a caller's negative or oversized key still lands on the ring
        ring = self._ring
        bucket = key >> self._shift
        starts = self._starts
        i = bisect_left(ring, key, starts[bucket], starts[bucket + 1])
        if i == len(ring):
            if not ring:
                return None
            i = 0
        endpoint = self._endpoints[ring[i] & OWNER_MASK]
        if self._factor and endpoint.active_requests:
            return bounded_choice(self._owner_at, len(ring), i, self._shares, self._factor)
        return endpoint

    def _index_ring(self) -> None:
        """Bucket the ring by the top bits of the position, about four entries per bucket.

        A binary search over a whole ring of 256,000 entries costs ~1 us in CPython, mostly
        cache misses on the int objects; within one bucket it is two or three compares.
        """
        ring = self._ring
        bits = max(0, len(ring).bit_length() - 2)
        self._shift = 64 - bits
        self._starts = [bisect_left(ring, b << self._shift) for b in range(1 << bits)]
        self._starts.append(len(ring))

    def _owner_at(self, i: int) -> Endpoint:
        return self._endpoints[self._ring[i] & OWNER_MASK]

    def __repr__(self) -> str:
        version = self._snapshot.version if self._snapshot else None
        bounded = f" bounded={self._factor}%" if self._factor else ""
        return (
            f"<RingHash v={version} endpoints={len(self._shares)} ring={len(self._ring)}{bounded}>"
        )
