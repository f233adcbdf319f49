"""Maglev: consistent hashing through a lookup table (Eisenbud et al., NSDI 2016; Envoy).

Theory of operation. `rebuild` fills a table of `maglev_table_size` slots (a prime M). Each
endpoint has a preference list, the permutation `offset + j * skip (mod M)` with `offset` and
`skip` taken from two stable hashes of `endpoint.key`; endpoints take turns claiming their
next still-free preferred slot until the table is full. Weights (configured ones, as in
ring_hash) set how often an endpoint gets a turn: the heaviest one plays every round, one of
a third of that weight every third round (Envoy's weighted Maglev). A pick is one modulo and
one list read: `table[hash_key % M]`.

Each endpoint ends up with a share of the slots within a fraction of a percent of its weight
share, and adding or removing one endpoint reassigns its own slots plus a fraction of a
percent of the others' (preference lists are unchanged, only the turns shift: when one of 10
endpoints leaves, 10.0-10.5 % of keys move). The price is rebuild
time: filling M slots costs about M ln M probes, 25-75 ms for M = 65537 in CPython whatever
the number of endpoints (a ring takes ~1 ms at 10 endpoints, ~120 ms at 1,000), and it is
skipped when the usable membership is unchanged. Keep M at least ~100 x the number of
endpoints for an even spread.

Optional bounded load (`hash_balance_factor`) walks on through the table from the hashed
slot (`meshlb.balance.hashing.bounded_choice`).

Use it for consistent hashing in large clusters, or wherever the pick must be cheapest and
the spread most even; ring_hash rebuilds faster in small clusters and moves strictly only
the changed endpoint's keys.
"""

from __future__ import annotations

import random as _random
from collections.abc import Sequence

from meshlb.balance.base import usable_configured
from meshlb.balance.hashing import bounded_choice, hash_key, normalised_shares
from meshlb.balance.options import BalancerOptions
from meshlb.model import Endpoint, PickContext, Snapshot


def maglev_table(endpoints: Sequence[Endpoint], weights: Sequence[int], size: int) -> list[int]:
    """The slot owners (indexes into `endpoints`) of a Maglev table of prime `size`."""
    count = len(endpoints)
    if not count:
        return []
    skips = [hash_key(b"maglev-skip:" + e.key) % (size - 1) + 1 for e in endpoints]
    probes = [hash_key(b"maglev-offset:" + e.key) % size for e in endpoints]
    heaviest = max(weights)
    equal = min(weights) == heaviest
    claimed = [0] * count  # turns taken, in units of the heaviest weight
    table = [-1] * size
    filled = 0
    iteration = 0
    while True:
        iteration += 1
        for i in range(count):
            if not equal:
                # Endpoint i plays when iteration * w_i has caught up with its turns so far.
                if iteration * weights[i] < claimed[i]:
                    continue
                claimed[i] += heaviest
            slot, skip = probes[i], skips[i]
            while table[slot] >= 0:
                slot += skip
                if slot >= size:
                    slot -= size
            table[slot] = i
            slot += skip
            probes[i] = slot - size if slot >= size else slot
            filled += 1
            if filled == size:
                return table


class Maglev:
    """Consistent hashing through a Maglev lookup table (`maglev` in config)."""

    def __init__(
        self, options: BalancerOptions | None = None, *, rng: _random.Random | None = None
    ) -> None:
        options = options or BalancerOptions()
        self._size = options.maglev_table_size
        self._factor = options.hash_balance_factor
        self._random_key = (rng or _random.Random()).getrandbits
        self._snapshot: Snapshot | None = None
        self._endpoints: list[Endpoint] = []
        self._weights: list[int] = []
        self._table: list[Endpoint] = []
        self._shares: dict[Endpoint, float] = {}

    def rebuild(self, snapshot: Snapshot) -> None:
        endpoints, weights = usable_configured(snapshot)
        if endpoints != self._endpoints or weights != self._weights:
            owners = maglev_table(endpoints, weights, self._size)
            self._table = [endpoints[i] for i in owners]
            self._shares = normalised_shares(endpoints, weights)
            self._endpoints, self._weights = endpoints, weights
        self._snapshot = snapshot

    def pick(self, ctx: PickContext, snapshot: Snapshot) -> Endpoint | None:
        if snapshot is not self._snapshot:
            self.rebuild(snapshot)
        key = ctx.hash_key
        if key is None:
            key = self._random_key(64)
        try:
            slot = key % self._size
            endpoint = self._table[slot]
        except IndexError:  # empty table
            return None
        if self._factor and endpoint.active_requests:
            return bounded_choice(
                self._table.__getitem__, self._size, slot, self._shares, self._factor
            )
        return endpoint

    def __repr__(self) -> str:
        version = self._snapshot.version if self._snapshot else None
        bounded = f" bounded={self._factor}%" if self._factor else ""
        return f"<Maglev v={version} endpoints={len(self._endpoints)} table={self._size}{bounded}>"
