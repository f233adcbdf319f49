"""`meshlb bench` over HTTP/2 (h2c and TLS with ALPN) and over HTTP/1.1 with TLS."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bench.support import (
    H1Backend,
    H2Backend,
    bench,
    bench_json,
    make_certificate,
    server_tls,
)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_certificate(tmp_path_factory.mktemp("tls"))


def test_h2c_multiplexes_streams_and_counts_exactly() -> None:
    with H2Backend(delay_s=0.005) as backend:
        doc, text = bench_json(
            backend.url,
            "--http2",
            "-c",
            "2",
            "-m",
            "8",
            "-n",
            "400",
            "--workers",
            "1",
            "--by-header",
            "x-upstream",
        )
    assert backend.requests == 400
    assert doc["requests"] == 400 and doc["errors_total"] == 0
    assert doc["protocol"] == "h2" and doc["streams"] == 8
    assert backend.max_concurrent == 8  # every connection kept its 8 streams busy
    assert doc["by_header"]["counts"] == {"h2": 400}
    assert "HTTP/2, 8 streams each" in text


def test_h2_over_tls_with_insecure(certificate: tuple[Path, Path]) -> None:
    with H2Backend(tls=server_tls(certificate, ["h2"])) as backend:
        doc, _ = bench_json(
            backend.url,
            "--http2",
            "--insecure",
            "-c",
            "2",
            "-m",
            "4",
            "-n",
            "300",
            "--workers",
            "2",
        )
    assert backend.requests == 300
    assert doc["requests"] == 300 and doc["status"] == {"200": 300}


def test_h2_rate_mode_paces_the_streams() -> None:
    with H2Backend() as backend:
        doc, _ = bench_json(
            backend.url, "--http2", "--rate", "200", "-d", "1s", "-c", "1", "--workers", "1"
        )
    assert doc["model"] == "open"
    assert doc["requests"] == pytest.approx(200, abs=3)
    assert "latency_uncorrected_ms" in doc


def test_a_self_signed_certificate_fails_without_insecure(certificate: tuple[Path, Path]) -> None:
    with H2Backend(tls=server_tls(certificate, ["h2"])) as backend:
        doc, _ = bench_json(
            backend.url, "--http2", "-c", "1", "-n", "5", "--workers", "1", returncode=1
        )
    assert doc["errors"]["connect"] == 5
    assert backend.requests == 0


def test_https_http1_with_insecure(certificate: tuple[Path, Path]) -> None:
    with H1Backend(tls=server_tls(certificate, ["http/1.1"])) as backend:
        doc, _ = bench_json(backend.url, "--insecure", "-c", "3", "-n", "150", "--workers", "1")
    assert backend.requests == 150
    assert doc["requests"] == 150 and doc["protocol"] == "http/1.1"


def test_http2_against_a_server_without_h2_alpn_is_a_clear_error(
    certificate: tuple[Path, Path],
) -> None:
    with H1Backend(tls=server_tls(certificate, ["http/1.1"])) as backend:
        out = bench(backend.url, "--http2", "--insecure", "-n", "10", "--workers", "1")
    assert out.returncode == 1
    assert "did not negotiate HTTP/2" in out.stderr
    assert "Traceback" not in out.stderr
