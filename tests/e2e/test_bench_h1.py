"""`meshlb bench` over HTTP/1.1 against backends started here, on real sockets."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.bench.support import (
    ROOT,
    H1Backend,
    H1Options,
    bench,
    bench_env,
    bench_json,
    wait_until,
)


def test_with_n_the_reported_count_equals_the_backends_count() -> None:
    with H1Backend() as backend:
        doc, text = bench_json(backend.url, "-n", "1000", "-c", "8", "--workers", "1")
    assert backend.requests == 1000
    assert doc["requests"] == 1000
    assert doc["status"] == {"200": 1000}
    assert sum(doc["errors"].values()) == 0
    assert "1,000 requests in" in text


def test_two_workers_split_the_requests_exactly() -> None:
    with H1Backend() as backend:
        doc, _ = bench_json(backend.url, "-n", "999", "-c", "4", "--workers", "2")
    assert backend.requests == 999
    assert doc["requests"] == 999
    assert doc["workers"] == 2


def test_p50_matches_a_fixed_20ms_backend_delay() -> None:
    with H1Backend(H1Options(delay_s=0.020)) as backend:
        doc, _ = bench_json(backend.url, "-n", "300", "-c", "10", "--workers", "1")
    assert doc["latency_ms"]["p50"] == pytest.approx(20.0, rel=0.10)


def test_rate_mode_charges_a_stall_to_the_requests_it_held_back() -> None:
    # 300 requests/s for 3 s; the whole server blocks for 1 s at about the 1 s mark. Only the
    # two requests in flight see the stall as sent; the ~300 held back behind them see it
    # from their intended send times.
    with H1Backend(H1Options(stall_at=300, stall_s=1.0)) as backend:
        doc, text = bench_json(
            backend.url, "--rate", "300", "-d", "3s", "-c", "2", "--workers", "1"
        )
    assert doc["model"] == "open"
    assert doc["latency_ms"]["p99"] > 500
    assert doc["latency_uncorrected_ms"]["p99"] < 200
    assert doc["latency_uncorrected_ms"]["max"] > 900  # the stall was seen, just rarely
    assert "uncorrected" in text
    # The held-back requests are the server's doing and counted apart from the generator's
    # own lateness, which stays far below the stall.
    assert doc["sends_held"] >= 250
    assert doc["send_lag_ms"]["p50"] < 1.0
    assert "sent late for lack of a free connection" in text


def test_rate_mode_sends_on_time() -> None:
    with H1Backend() as backend:
        doc, text = bench_json(
            backend.url, "--rate", "2000", "-d", "2s", "-c", "8", "--workers", "1"
        )
    assert doc["requests"] >= 3900
    # The event loop's millisecond timers would make the median send lag a few hundred us.
    assert doc["send_lag_ms"]["p50"] < 0.05
    assert "send lag p50" in text


def test_json_document_has_the_documented_shape(tmp_path: Path) -> None:
    out_file = tmp_path / "run.json"
    with H1Backend() as backend:
        out = bench(
            backend.url, "-d", "1500ms", "-c", "4", "--workers", "1", "--json", str(out_file)
        )
    assert out.returncode == 0, out.stderr
    assert "Requests/sec" in out.stdout  # the text summary still goes to stdout
    doc = json.loads(out_file.read_text())
    assert doc["requests"] == backend.requests or doc["requests"] <= backend.requests
    assert doc["duration_s"] == pytest.approx(1.5, abs=0.1)
    assert doc["rps"] == pytest.approx(doc["requests"] / doc["duration_s"], rel=1e-3)
    for key in ("p50", "p75", "p90", "p99", "p999", "p9999", "max"):
        assert isinstance(doc["latency_ms"][key], float)
    assert doc["latency_ms"]["p50"] <= doc["latency_ms"]["p99"] <= doc["latency_ms"]["max"]
    assert set(doc["errors"]) == {"connect", "timeout", "reset", "protocol"}
    assert [row["second"] for row in doc["timeseries"]] == [1, 2]
    assert sum(row["requests"] for row in doc["timeseries"]) == doc["requests"]
    for row in doc["timeseries"]:
        assert set(row) >= {"requests", "errors", "p50", "p99"}
    buckets = doc["histogram"]["buckets"]
    assert sum(count for _, _, count in buckets) == doc["requests"]
    assert "latency_uncorrected_ms" not in doc


def test_json_without_a_file_goes_to_stdout_alone() -> None:
    with H1Backend() as backend:
        doc, stderr = bench_json(backend.url, "-n", "50", "-c", "2", "--workers", "1")
    assert doc["requests"] == 50
    assert "Requests/sec" in stderr


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_html_report_is_one_self_contained_file_with_both_charts(tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    with H1Backend() as backend:
        out = bench(backend.url, "-d", "1200ms", "-c", "2", "--workers", "1", "--html", str(report))
    assert out.returncode == 0, out.stderr
    parser = _Collector()
    parser.feed(report.read_text())
    svg_ids = {attrs.get("id") for tag, attrs in parser.tags if tag == "svg"}
    assert {"latency-over-time", "percentile-distribution"} <= svg_ids
    assert sum(1 for tag, _ in parser.tags if tag == "polyline") >= 3
    for tag, attrs in parser.tags:
        assert tag not in ("script", "link", "img", "iframe")
        assert not any(key in ("src", "href") for key in attrs)


def test_by_header_counts_responses_per_value() -> None:
    options = H1Options(header=("X-Upstream", ["10.0.0.1:80", "10.0.0.2:80"]))
    with H1Backend(options) as backend:
        out = bench(
            backend.url,
            "-n",
            "100",
            "-c",
            "3",
            "--workers",
            "1",
            "--by-header",
            "x-upstream",
            "--json",
        )
    doc = json.loads(out.stdout)
    assert doc["by_header"] == {
        "name": "x-upstream",
        "counts": {"10.0.0.1:80": 50, "10.0.0.2:80": 50},
    }
    assert "Responses by x-upstream" in out.stderr


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigint_prints_the_summary_so_far(workers: str) -> None:
    with H1Backend() as backend:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "meshlb.bench",
                backend.url,
                "-d",
                "60s",
                "-c",
                "2",
                "--workers",
                workers,
            ],
            cwd=ROOT,
            env=bench_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            wait_until(lambda: backend.requests > 200)
            process.send_signal(signal.SIGINT)
            stdout, stderr = process.communicate(timeout=15)
        finally:
            process.kill()
    assert process.returncode == 130, stderr
    assert "Interrupted" in stdout
    assert "Requests/sec" in stdout
    assert "Traceback" not in stderr


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_target_is_reported_as_connect_errors() -> None:
    out = bench(f"http://127.0.0.1:{_closed_port()}/", "-d", "500ms", "-c", "2", "--workers", "1")
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    errors_line = next(line for line in out.stdout.splitlines() if "Errors:" in line)
    assert "connect 0" not in errors_line


@pytest.mark.parametrize(
    "url", ["ftp://127.0.0.1/", "127.0.0.1:80", "http://:80/", "http://127.0.0.1:99999/"]
)
def test_a_bad_url_is_one_line_and_exit_2(url: str) -> None:
    out = bench(url, "-n", "1")
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "error" in out.stderr
    assert out.stdout == ""


def test_requests_without_an_answer_time_out() -> None:
    with H1Backend(H1Options(never_answer=True)) as backend:
        doc, _ = bench_json(
            backend.url, "-n", "4", "-c", "2", "--timeout", "200ms", "--workers", "1", returncode=1
        )
    assert doc["errors"]["timeout"] == 4
    assert doc["requests"] == 0
    assert backend.requests == 4


def test_head_responses_have_no_body_despite_content_length() -> None:
    with H1Backend() as backend:
        doc, _ = bench_json(backend.url, "-X", "HEAD", "-n", "50", "-c", "2", "--workers", "1")
    assert doc["requests"] == 50 and doc["errors_total"] == 0
    assert backend.stats.methods == {"HEAD": 50}


def test_chunked_bodies_and_server_closes_are_handled() -> None:
    with H1Backend(H1Options(chunked=True, close_every=7)) as backend:
        doc, _ = bench_json(backend.url, "-n", "100", "-c", "3", "--workers", "1")
    assert doc["requests"] == 100 and doc["errors_total"] == 0
    assert backend.requests == 100


def test_a_body_from_a_file_is_posted(tmp_path: Path) -> None:
    payload = tmp_path / "payload.json"
    payload.write_bytes(b'{"hello": "world"}')
    with H1Backend() as backend:
        doc, _ = bench_json(
            backend.url, "--body", f"@{payload}", "-n", "20", "-c", "2", "--workers", "1"
        )
    assert doc["method"] == "POST" and doc["requests"] == 20
    assert backend.stats.methods == {"POST": 20}
    assert backend.stats.bodies == [18] * 20


def test_warmup_requests_are_not_counted() -> None:
    with H1Backend() as backend:
        doc, _ = bench_json(
            backend.url, "--warmup", "300ms", "-n", "100", "-c", "2", "--workers", "1"
        )
    assert doc["requests"] == 100
    assert backend.requests > 100


def test_the_main_cli_runs_bench() -> None:
    with H1Backend() as backend:
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "meshlb",
                "bench",
                backend.url,
                "-n",
                "10",
                "-c",
                "1",
                "--workers",
                "1",
            ],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=bench_env(),
            timeout=30,
        )
    assert out.returncode == 0, out.stderr
    assert backend.requests == 10
