"""Smooth weighted round robin, as a precomputed schedule.

Theory of operation. nginx's smooth WRR scans every endpoint on every pick: O(n), about
75 us per pick at 1,000 endpoints in CPython (measured). Instead, `rebuild` writes out one
whole period of a smooth weighted sequence and `pick` walks it with a rotating index: O(1),
the same cost at 3 or 10,000 endpoints.

- Equal weights: the schedule is the endpoints themselves (plain rotation).
- Unequal weights: weights are made integers (exact when they already are, reduced by their
  gcd; otherwise, e.g. slow-start ramps, scaled to a period of about max(4096, 16 n) picks
  and rounded, every positive weight keeping at least one turn). Endpoint i's k-th turn
  (k = 0 .. w_i - 1) gets the deadline (k + phase_i) / w_i, with phases spread evenly over
  (0, 1): phase_i = (i + 1/2) / n. The schedule is all turns sorted by deadline (earliest
  deadline first, i.e. stride scheduling). Every period gives each endpoint exactly w_i turns
  whose deadlines are 1/w_i apart, also across the period boundary; the spread phases keep
  endpoints of equal weight from bunching up. For 5:1:1 the period is a a a b a a c (longest
  run of a: 3, across boundaries too; nginx's a a b a c a a repeats into a run of 4), and
  over random weight sets the gaps between an endpoint's turns stray less from period / w_i
  than nginx's do (tested). Building costs O(P log P) once per rebuild (~10 ms for
  1,000 endpoints).

Each rebuild starts at a random offset of the new period, so worker processes do not march
in step and a stream of rebuilds (slow start) does not favour the head of the schedule; a
rebuild that leaves the schedule unchanged keeps its position.
"""

from __future__ import annotations

import math
import random as _random
from collections.abc import Sequence
from typing import TypeVar

from meshlb.balance.base import usable_weights
from meshlb.balance.options import BalancerOptions
from meshlb.model import Endpoint, PickContext, Snapshot

T = TypeVar("T")

MIN_PERIOD_LIMIT = 4096
PERIOD_PER_ENDPOINT = 16


def integer_weights(weights: Sequence[float], limit: int) -> list[int]:
    """Positive integer weights with the same ratios (exact if possible), summing to ~limit."""
    if not weights:
        return []
    if all(w == int(w) for w in weights):
        exact = [int(w) for w in weights]
        divisor = math.gcd(*exact)
        if sum(exact) // divisor <= limit:
            return [w // divisor for w in exact]
    total = math.fsum(weights)
    return [max(1, round(w * limit / total)) for w in weights]


def smooth_schedule(endpoints: Sequence[T], weights: Sequence[int]) -> list[T]:
    """One period: endpoint i appears w_i times, turns sorted by deadline (k + phase_i) / w_i."""
    count = len(weights)
    if len(set(weights)) <= 1:
        return list(endpoints)
    # Deadlines are (2 n k + 2 i + 1) / (2 n w_i): float division of exact integers rounds the
    # same in every process, and distinct deadlines differ far above float resolution.
    turns = sorted(
        ((2 * count * k + 2 * i + 1) / (2 * count * w), i)
        for i, w in enumerate(weights)
        for k in range(w)
    )
    return [endpoints[i] for _, i in turns]


class RoundRobin:
    """Smooth weighted round robin (`round_robin` in config)."""

    def __init__(
        self, options: BalancerOptions | None = None, *, rng: _random.Random | None = None
    ) -> None:
        self._rng = rng or _random.Random()
        self._snapshot: Snapshot | None = None
        self._schedule: list[Endpoint] = []
        self._weights: list[int] = []
        self._position = 0
        self._period = 0

    def rebuild(self, snapshot: Snapshot) -> None:
        endpoints, weights = usable_weights(snapshot)
        limit = max(MIN_PERIOD_LIMIT, PERIOD_PER_ENDPOINT * len(endpoints))
        integers = integer_weights(weights, limit)
        schedule = smooth_schedule(endpoints, integers)
        if schedule != self._schedule or integers != self._weights:
            self._schedule, self._weights = schedule, integers
            self._period = len(schedule)
            self._position = self._rng.randrange(self._period) if schedule else 0
        self._snapshot = snapshot

    def pick(self, ctx: PickContext, snapshot: Snapshot) -> Endpoint | None:
        if snapshot is not self._snapshot:
            self.rebuild(snapshot)
        position = self._position + 1
        if position >= self._period:
            position = 0
        self._position = position
        try:
            return self._schedule[position]
        except IndexError:  # empty schedule
            return None

    def __repr__(self) -> str:
        version = self._snapshot.version if self._snapshot else None
        kind = "rotation" if len(set(self._weights)) <= 1 else "weighted"
        return (
            f"<RoundRobin v={version} endpoints={len(self._weights)} {kind} "
            f"period={self._period} position={self._position}>"
        )
