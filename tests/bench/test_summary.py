"""Merging the workers' results."""

from __future__ import annotations

import pytest

from meshlb.bench.summary import summarize
from tests.bench.results_factory import result, row


def test_totals_add_up_across_workers() -> None:
    a = result(
        0,
        [row(1, [1.0] * 10), row(2, [2.0] * 10, errors=1)],
        status={200: 19, 503: 1},
        errors=[1, 0, 0, 0],
        headers={"x": 20},
    )
    b = result(1, [row(1, [3.0] * 5)], errors=[0, 0, 2, 0], headers={"x": 3, "y": 2})
    summary = summarize([a, b], open_model=False)
    assert summary.workers == 2 and summary.requests == 25
    assert summary.status == {200: 24, 503: 1}
    assert summary.errors == {"connect": 1, "timeout": 0, "reset": 2, "protocol": 0}
    assert summary.error_total == 3
    assert summary.header_counts == {"x": 23, "y": 2}
    assert summary.duration_s == 2.0 and summary.rx_bytes == 2000
    assert summary.latency_uncorrected is None and not summary.interrupted


def test_the_time_series_merges_rows_of_the_same_second() -> None:
    a = result(0, [row(1, [1.0] * 99 + [50.0]), row(2, [2.0] * 10)])
    b = result(1, [row(1, [1.0] * 100)])
    first, second = summarize([a, b], open_model=False).seconds
    assert (first.second, first.requests, second.requests) == (1, 200, 10)
    assert first.p50_ns == pytest.approx(1e6, rel=0.01)
    assert first.p99_ns == pytest.approx(1e6, rel=0.01)  # one slow request in 200 is < 1 %
    assert first.p99_uncorrected_ns is None


def test_open_model_keeps_the_uncorrected_histogram_apart() -> None:
    a = result(0, [row(1, [100.0] * 10, uncorrected_ms=[1.0] * 10)])
    summary = summarize([a], open_model=True)
    assert summary.latency_uncorrected is not None
    assert summary.latency.percentile(50) == pytest.approx(100e6, rel=0.01)
    assert summary.latency_uncorrected.percentile(50) == pytest.approx(1e6, rel=0.01)
    assert summary.seconds[0].p99_uncorrected_ns == pytest.approx(1e6, rel=0.01)


def test_an_interrupted_or_failed_worker_marks_the_run() -> None:
    failed = result(1, [])
    failed.fatal = "worker 1 exited with code -9"
    summary = summarize([result(0, [row(1, [1.0])], interrupted=True), failed], False)
    assert summary.interrupted and summary.fatal == ["worker 1 exited with code -9"]
