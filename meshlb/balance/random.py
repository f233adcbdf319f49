"""Weighted random: each pick is an independent draw proportional to effective weight.

Theory of operation: `rebuild` turns the snapshot's usable endpoints and weights into an
alias table (`meshlb.balance.weighted`); `pick` draws one uniform number and reads the table,
O(1) whatever the number of endpoints or the spread of weights. Stateless between picks, so
many worker processes never fall into step with each other; the price is more variance than
round robin over short windows. Use it when you want round robin's shares without shared
rhythm, or as a baseline.
"""

from __future__ import annotations

import random as _random

from meshlb.balance.base import usable_weights
from meshlb.balance.options import BalancerOptions
from meshlb.balance.weighted import AliasTable
from meshlb.model import Endpoint, PickContext, Snapshot


class WeightedRandom:
    """Independent weighted draws (`random` in config)."""

    def __init__(
        self, options: BalancerOptions | None = None, *, rng: _random.Random | None = None
    ) -> None:
        self._bits = (rng or _random.Random()).getrandbits
        self._snapshot: Snapshot | None = None
        self._table = AliasTable([], [])

    def rebuild(self, snapshot: Snapshot) -> None:
        self._table = AliasTable(*usable_weights(snapshot))
        self._snapshot = snapshot

    def pick(self, ctx: PickContext, snapshot: Snapshot) -> Endpoint | None:
        if snapshot is not self._snapshot:
            self.rebuild(snapshot)
        # AliasTable.sample, inlined: this is the whole cost of a pick.
        table = self._table
        bits = self._bits
        try:
            column = bits(32) % table.size
        except ZeroDivisionError:  # no endpoints
            return None
        if bits(32) < table.threshold[column]:
            return table.endpoints[column]
        return table.alias[column]

    def __repr__(self) -> str:
        version = self._snapshot.version if self._snapshot else None
        return f"<WeightedRandom v={version} endpoints={len(self._table)}>"
