"""The results document and the text summary."""

from __future__ import annotations

import argparse
import json

import pytest

from meshlb.bench.options import BenchOptions, add_arguments, options_from_namespace
from meshlb.bench.report import (
    Document,
    build_document,
    format_bytes,
    format_header,
    format_text,
)
from meshlb.bench.summary import summarize
from tests.bench.results_factory import result, row


def options(*argv: str) -> BenchOptions:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return options_from_namespace(parser.parse_args(["http://127.0.0.1:8080/", *argv]))


def closed_doc() -> Document:
    rows = [row(1, [1.0] * 90 + [9.0] * 10), row(2, [2.0] * 100, errors=1)]
    summary = summarize(
        [result(0, rows, status={200: 199, 404: 1}, errors=[0, 1, 0, 0])], open_model=False
    )
    return build_document(summary, options("-d", "2s", "--workers", "1"))


def test_the_document_has_the_documented_keys_and_values() -> None:
    doc = closed_doc()
    assert doc["requests"] == 200 and doc["duration_s"] == 2.0 and doc["rps"] == 100.0
    assert doc["latency_ms"]["p50"] == pytest.approx(2.0, rel=0.01)
    assert doc["latency_ms"]["p99"] == pytest.approx(9.0, rel=0.01)
    assert doc["latency_ms"]["max"] == pytest.approx(9.0, rel=0.01)
    assert set(doc["latency_ms"]) == {
        "p50",
        "p75",
        "p90",
        "p99",
        "p999",
        "p9999",
        "max",
        "min",
        "mean",
        "stdev",
    }
    assert doc["status"] == {"200": 199, "404": 1} and doc["non_2xx_3xx"] == 1
    assert doc["errors"] == {"connect": 0, "timeout": 1, "reset": 0, "protocol": 0}
    assert [r["requests"] for r in doc["timeseries"]] == [100, 100]
    assert doc["timeseries"][1]["errors"] == 1
    assert sum(c for _, _, c in doc["histogram"]["buckets"]) == 200
    assert doc["histogram"]["percentiles"][0] == [0.0, pytest.approx(1.0, rel=0.01)]
    assert doc["model"] == "closed" and "latency_uncorrected_ms" not in doc
    json.dumps(doc)  # plain JSON types only


def test_rate_mode_adds_the_uncorrected_figures() -> None:
    summary = summarize(
        [result(0, [row(1, [50.0] * 10, uncorrected_ms=[5.0] * 10)])], open_model=True
    )
    doc = build_document(summary, options("--rate", "10", "--workers", "1"))
    assert doc["model"] == "open" and doc["target_rate"] == 10.0
    assert doc["latency_uncorrected_ms"]["p99"] == pytest.approx(5.0, rel=0.01)
    assert "histogram_uncorrected" in doc
    assert "p99_uncorrected" in doc["timeseries"][0]
    text = format_text(doc)
    assert "corrected" in text and "uncorrected" in text and "achieved 10.00/s" in text


def rate_doc(lag_ms: float) -> Document:
    rows = [row(1, [0.1] * 100, uncorrected_ms=[0.08] * 100, send_lag_ms=[lag_ms] * 100, held=3)]
    summary = summarize([result(0, rows)], open_model=True)
    return build_document(summary, options("--rate", "100", "-d", "1s", "--workers", "1"))


def test_rate_mode_reports_the_send_lag_and_the_sends_held_for_a_connection() -> None:
    doc = rate_doc(lag_ms=0.005)
    assert doc["send_lag_ms"]["p50"] == pytest.approx(0.005, rel=0.01)
    assert doc["send_lag_ms"]["p99"] == pytest.approx(0.005, rel=0.01)
    assert doc["sends_held"] == 3
    assert "send_lag_ms" not in closed_doc()
    text = format_text(doc)
    assert "    send lag p50 5us / p99 5us (the generator's own lateness); " in text
    assert "3 sent late for lack of a free connection" in text
    assert "Warning" not in text


def test_a_send_lag_that_is_a_large_share_of_the_latency_is_warned_about() -> None:
    text = format_text(rate_doc(lag_ms=0.05))  # the server's own p99 is 0.08 ms
    assert "  Warning: send lag p99 50us is over 50% of the uncorrected p99 80us" in text


def test_the_text_summary_reads_like_wrk() -> None:
    text = format_text(closed_doc())
    assert "200 requests in 2.00s" in text
    assert "Status codes: 200: 199, 404: 1" in text
    assert "Non-2xx or 3xx responses: 1" in text
    assert "Errors: connect 0, timeout 1, reset 0, protocol 0" in text
    assert "Requests/sec:       100.00" in text
    assert "p99.99" in text


def test_by_header_is_listed_with_shares() -> None:
    summary = summarize([result(0, [row(1, [1.0] * 4)], headers={"a": 3, "b": 1})], False)
    doc = build_document(summary, options("--by-header", "X-Up", "--workers", "1"))
    assert doc["by_header"] == {"name": "x-up", "counts": {"a": 3, "b": 1}}
    assert "a           3   75.0%" in format_text(doc)


def test_an_empty_run_says_so() -> None:
    summary = summarize([result(0, [row(1, [])], errors=[5, 0, 0, 0])], False)
    text = format_text(build_document(summary, options("--workers", "1")))
    assert "(no responses)" in text and "connect 5" in text


def test_the_header_names_the_shape_of_the_run() -> None:
    assert format_header(options("-n", "500", "-c", "3", "--http2", "-m", "4"), 2) == (
        "Running 500 requests test @ http://127.0.0.1:8080/\n"
        "  2 workers, 3 connections (HTTP/2, 4 streams each), closed model\n"
    )
    assert "open model at 250 requests/s" in format_header(options("--rate", "250"), 1)


def test_format_bytes() -> None:
    assert [format_bytes(n) for n in (12, 2048, 5 * 1024**2, 3 * 1024**3)] == [
        "12B",
        "2.00KB",
        "5.00MB",
        "3.00GB",
    ]
