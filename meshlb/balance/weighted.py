"""Weighted sampling in O(1): Vose's alias method, shared by `random` and `peak_ewma`.

The table splits n weights into n columns of height 1; column i keeps endpoint i with
probability `keep[i]` and otherwise yields `alias[i]`. A draw is two 32-bit random integers:
one picks the column (modulo n, a bias below n / 2**32), the other is compared with the
column's threshold (`keep * 2**32`). Building is O(n) at rebuild; sampling is two C calls, a
modulo, a compare and two list reads, cheaper in CPython than `bisect` on cumulative weights
(O(log n) compares) or than `int(random() * n)`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from meshlb.model import Endpoint

_SCALE = 1 << 32


class AliasTable:
    """Samples `endpoints` with probability proportional to `weights` (all positive)."""

    __slots__ = ("alias", "endpoints", "size", "threshold")

    def __init__(self, endpoints: Sequence[Endpoint], weights: Sequence[float]) -> None:
        size = len(endpoints)
        total = float(sum(weights))
        scaled = [w * size / total for w in weights] if size else []
        keep = [1.0] * size
        alias = list(range(size))
        small = [i for i, p in enumerate(scaled) if p < 1.0]
        large = [i for i, p in enumerate(scaled) if p >= 1.0]
        while small and large:
            short, tall = small.pop(), large.pop()
            keep[short] = scaled[short]
            alias[short] = tall
            scaled[tall] -= 1.0 - scaled[short]
            (small if scaled[tall] < 1.0 else large).append(tall)
        # Whatever is left over is 1.0 up to rounding error: those columns keep themselves.
        self.size = size
        self.endpoints = list(endpoints)
        self.threshold = [round(k * _SCALE) for k in keep]
        self.alias = [endpoints[i] for i in alias]

    def sample(self, bits: Callable[[int], int]) -> Endpoint:
        """One draw, given `random.Random.getrandbits`. Raises ZeroDivisionError when empty."""
        column = bits(32) % self.size
        if bits(32) < self.threshold[column]:
            return self.endpoints[column]
        return self.alias[column]

    def __len__(self) -> int:
        return self.size
