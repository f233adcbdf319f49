"""A log-linear latency histogram in the style of HdrHistogram.

Theory of operation. Values are integer nanoseconds. Values below 256 get a bucket each; above
that, every power-of-two range [2^k, 2^(k+1)) is split into 128 equal buckets. A bucket is
therefore never wider than 1/128 of its lower bound, and reporting its midpoint is off by at
most 1/256 (0.4 %) of the true value. The index of a value is two integer operations:

    shift = v.bit_length() - 8          # so that v >> shift lies in [128, 256)
    index = (shift << 7) + (v >> shift)

which the connection hot paths inline, so recording costs an index computation and one list
increment. Counts live in a plain list of `SIZE` ints (every int64 nanosecond value fits);
merging two histograms adds lists, and the wire form is the sparse list of non-zero buckets.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator

SUB_BITS = 7
_LINEAR_LIMIT = 1 << (SUB_BITS + 1)  # 256: below this a bucket holds exactly one value
MAX_VALUE = (1 << 63) - 1


def bucket_index(value: int) -> int:
    """The bucket of a non-negative integer value."""
    if value < _LINEAR_LIMIT:
        return value if value > 0 else 0
    shift = value.bit_length() - (SUB_BITS + 1)
    return (shift << SUB_BITS) + (value >> shift)


SIZE = bucket_index(MAX_VALUE) + 1


def bucket_bounds(index: int) -> tuple[int, int]:
    """The values [low, high) that fall into bucket `index`."""
    if index < _LINEAR_LIMIT:
        return index, index + 1
    shift = (index >> SUB_BITS) - 1
    mantissa = index - (shift << SUB_BITS)
    return mantissa << shift, (mantissa + 1) << shift


def bucket_value(index: int) -> int:
    """The value reported for bucket `index`: its midpoint (exact for the linear buckets)."""
    low, high = bucket_bounds(index)
    return (low + high - 1) // 2


def new_counts() -> list[int]:
    return [0] * SIZE


Sparse = list[tuple[int, int]]
"""Non-zero buckets as (index, count) pairs, ascending by index: the wire and storage form."""


def sparse_of(counts: list[int]) -> Sparse:
    return [(i, c) for i, c in enumerate(counts) if c]


def merge_sparse(parts: Iterable[Sparse]) -> Sparse:
    merged: dict[int, int] = {}
    for pairs in parts:
        for index, count in pairs:
            merged[index] = merged.get(index, 0) + count
    return sorted(merged.items())


def sparse_percentiles(pairs: Sparse, pcts: list[float]) -> list[int]:
    """Nearest-rank percentiles of sparse counts: for each pct, the value of the first bucket
    at which at least pct % of all counts are at or below it. `pcts` must be ascending; an
    empty histogram gives zeros."""
    total = sum(c for _, c in pairs)
    if not total:
        return [0 for _ in pcts]
    out: list[int] = []
    seen = 0
    pos = 0
    for pct in pcts:
        rank = max(1, math.ceil(total * min(max(pct, 0.0), 100.0) / 100.0))
        while seen + pairs[pos][1] < rank:
            seen += pairs[pos][1]
            pos += 1
        out.append(bucket_value(pairs[pos][0]))
    return out


class Histogram:
    """Counts per bucket plus the statistics read from them."""

    __slots__ = ("counts",)

    def __init__(self, counts: list[int] | None = None) -> None:
        self.counts = counts if counts is not None else new_counts()

    @classmethod
    def from_sparse(cls, pairs: Iterable[tuple[int, int]]) -> Histogram:
        hist = cls()
        hist.add_sparse(pairs)
        return hist

    def __repr__(self) -> str:
        if not self.total:
            return "<Histogram empty>"
        return (
            f"<Histogram n={self.total} p50={self.percentile(50)}ns "
            f"p99={self.percentile(99)}ns max={self.max}ns>"
        )

    def record(self, value: int, count: int = 1) -> None:
        self.counts[bucket_index(min(value, MAX_VALUE))] += count

    def add_sparse(self, pairs: Iterable[tuple[int, int]]) -> None:
        counts = self.counts
        for index, count in pairs:
            counts[index] += count

    def merge(self, other: Histogram) -> None:
        self.add_sparse(other.sparse())

    def sparse(self) -> Sparse:
        return sparse_of(self.counts)

    def buckets(self) -> Iterator[tuple[int, int, int]]:
        """Non-zero buckets as (low, high, count), ascending."""
        for index, count in self.sparse():
            low, high = bucket_bounds(index)
            yield low, high, count

    @property
    def total(self) -> int:
        return sum(self.counts)

    @property
    def min(self) -> int:
        for index, count in enumerate(self.counts):
            if count:
                return bucket_value(index)
        return 0

    @property
    def max(self) -> int:
        counts = self.counts
        for index in range(len(counts) - 1, -1, -1):
            if counts[index]:
                return bucket_value(index)
        return 0

    def mean(self) -> float:
        pairs = self.sparse()
        total = sum(c for _, c in pairs)
        if not total:
            return 0.0
        return sum(bucket_value(i) * c for i, c in pairs) / total

    def stdev(self) -> float:
        pairs = self.sparse()
        total = sum(c for _, c in pairs)
        if total < 2:
            return 0.0
        mean = sum(bucket_value(i) * c for i, c in pairs) / total
        variance = sum(c * (bucket_value(i) - mean) ** 2 for i, c in pairs) / total
        return math.sqrt(variance)

    def percentile(self, pct: float) -> int:
        """The nearest-rank percentile (see `sparse_percentiles`)."""
        return sparse_percentiles(self.sparse(), [pct])[0]

    def percentiles(self, pcts: list[float]) -> list[int]:
        """Several percentiles in one pass; `pcts` must be ascending."""
        return sparse_percentiles(self.sparse(), pcts)
