"""Smooth weighted round robin (nginx's algorithm)."""

from __future__ import annotations

from meshlb.model import Endpoint, PickContext, Snapshot


class RoundRobin:
    def __init__(self) -> None:
        self._current: list[float] = []
        self._version = -1

    def rebuild(self, snapshot: Snapshot) -> None:
        self._current = [0.0] * len(snapshot.eligible)
        self._version = snapshot.version

    def pick(self, ctx: PickContext, snapshot: Snapshot) -> Endpoint | None:
        eligible = snapshot.eligible
        if not eligible:
            return None
        if snapshot.version != self._version or len(self._current) != len(eligible):
            self.rebuild(snapshot)
        weights = snapshot.weights
        current = self._current
        total = 0.0
        best = -1
        best_value = 0.0
        for i, w in enumerate(weights):
            value = current[i] + w
            current[i] = value
            total += w
            if best < 0 or value > best_value:
                best, best_value = i, value
        if best < 0 or total <= 0:
            return None
        current[best] -= total
        return eligible[best]
