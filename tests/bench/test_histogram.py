"""The log-linear histogram: error bound, percentiles, merge and wire form."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from meshlb.bench.histogram import (
    MAX_VALUE,
    SIZE,
    Histogram,
    bucket_bounds,
    bucket_index,
    bucket_value,
    merge_sparse,
    sparse_percentiles,
)

values = st.integers(min_value=0, max_value=MAX_VALUE)


@given(values)
def test_every_value_falls_inside_the_bounds_of_its_bucket(value: int) -> None:
    index = bucket_index(value)
    assert 0 <= index < SIZE
    low, high = bucket_bounds(index)
    assert low <= value < high


@given(values)
def test_the_reported_value_is_within_one_percent(value: int) -> None:
    reported = bucket_value(bucket_index(value))
    assert abs(reported - value) <= 0.01 * value


@given(values, values)
def test_bucket_index_is_monotonic(a: int, b: int) -> None:
    low, high = sorted((a, b))
    assert bucket_index(low) <= bucket_index(high)


def test_buckets_tile_the_value_range_without_gaps() -> None:
    for index in range(SIZE - 1):
        assert bucket_bounds(index)[1] == bucket_bounds(index + 1)[0]


def test_small_values_are_exact() -> None:
    assert [bucket_value(bucket_index(v)) for v in range(256)] == list(range(256))


def test_percentiles_of_a_uniform_range() -> None:
    hist = Histogram()
    for value in range(1, 10_001):
        hist.record(value * 1000)
    p50, p90, p99, p999 = hist.percentiles([50, 90, 99, 99.9])
    for got, want in ((p50, 5_000_000), (p90, 9_000_000), (p99, 9_900_000), (p999, 9_990_000)):
        assert abs(got - want) <= 0.01 * want
    assert abs(hist.max - 10_000_000) <= 100_000
    assert abs(hist.min - 1000) <= 10
    assert abs(hist.mean() - 5_000_500) <= 0.01 * 5_000_500
    assert hist.total == 10_000


def test_percentile_uses_the_nearest_rank() -> None:
    hist = Histogram()
    hist.record(100, count=99)
    hist.record(200_000)
    assert hist.percentile(99) == 100
    assert abs(hist.percentile(99.5) - 200_000) <= 2000
    assert abs(hist.percentile(100) - 200_000) <= 2000


def test_an_empty_histogram_reports_zeros() -> None:
    hist = Histogram()
    assert hist.percentiles([50, 99]) == [0, 0]
    assert (hist.max, hist.min, hist.mean(), hist.stdev(), hist.total) == (0, 0, 0.0, 0.0, 0)
    assert repr(hist) == "<Histogram empty>"


@given(st.lists(values, max_size=50), st.lists(values, max_size=50))
def test_merging_equals_recording_everything_in_one(a: list[int], b: list[int]) -> None:
    left, right, both = Histogram(), Histogram(), Histogram()
    for value in a:
        left.record(value)
        both.record(value)
    for value in b:
        right.record(value)
        both.record(value)
    left.merge(right)
    assert left.counts == both.counts
    assert merge_sparse([Histogram.from_sparse(left.sparse()).sparse()]) == both.sparse()


def test_sparse_percentiles_match_the_dense_ones() -> None:
    hist = Histogram()
    for value in (5_000, 7_000, 7_000, 1_000_000):
        hist.record(value)
    assert sparse_percentiles(hist.sparse(), [25, 75, 100]) == hist.percentiles([25, 75, 100])


def test_repr_names_the_main_percentiles() -> None:
    hist = Histogram()
    hist.record(200)
    assert repr(hist) == "<Histogram n=1 p50=200ns p99=200ns max=200ns>"
