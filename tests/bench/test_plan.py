"""Sharing a run between workers."""

from __future__ import annotations

import argparse

from meshlb.bench.options import add_arguments, options_from_namespace
from meshlb.bench.plan import WorkerPlan, split, worker_plans


def plans(*argv: str) -> list[WorkerPlan]:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    options = options_from_namespace(parser.parse_args(list(argv)))
    return worker_plans(options, ("127.0.0.1", 8080))


def test_split_gives_the_remainder_to_the_first_parts() -> None:
    assert split(10, 3) == [4, 3, 3]
    assert split(2, 2) == [1, 1]
    assert sum(split(999, 7)) == 999


def test_connections_requests_and_rate_are_shared() -> None:
    got = plans("http://h.test/", "-c", "5", "-n", "1001", "--rate", "300", "--workers", "2")
    assert [p.connections for p in got] == [3, 2]
    assert [p.requests for p in got] == [501, 500]
    assert [p.rate for p in got] == [150.0, 150.0]
    assert [p.index for p in got] == [0, 1]


def test_http1_workers_get_the_prebuilt_bytes_and_http2_ones_the_header_list() -> None:
    [h1] = plans("http://h.test/", "--workers", "1")
    assert h1.request_bytes.startswith(b"GET / HTTP/1.1\r\n") and h1.h2_headers == []
    [h2] = plans("http://h.test/", "--http2", "--workers", "1")
    assert h2.request_bytes == b"" and h2.h2_headers[0] == (b":method", b"GET")
