"""Open-model pacing: when each request of a constant-rate run is meant to be sent.

Request i (from 0) is intended for `start + i / rate`. Latency in rate mode is measured from
that intended time, so a server stall that keeps the connections busy is charged to every
request that should have gone out during it (the coordinated-omission correction of wrk2).
"""

from __future__ import annotations

_NS = 1_000_000_000


class RateSchedule:
    __slots__ = ("rate", "start_ns", "_interval_ns")

    def __init__(self, rate: float, start_ns: int) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.start_ns = start_ns
        self._interval_ns = _NS / rate

    def __repr__(self) -> str:
        return f"<RateSchedule {self.rate:g}/s from {self.start_ns}ns>"

    def intended_ns(self, index: int) -> int:
        return self.start_ns + int(index * self._interval_ns)

    def due(self, now_ns: int) -> int:
        """How many requests are due by `now_ns` (those with intended time <= now)."""
        if now_ns < self.start_ns:
            return 0
        return int((now_ns - self.start_ns) / self._interval_ns) + 1
