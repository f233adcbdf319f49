"""The command line: declared options and their one-time validation."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest

from meshlb.bench.options import BenchOptions, OptionsError, add_arguments, options_from_namespace


def parse(*argv: str) -> BenchOptions:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return options_from_namespace(parser.parse_args(list(argv)))


def test_defaults_are_a_ten_second_closed_get() -> None:
    options = parse("http://127.0.0.1:8080/")
    assert options.duration_s == 10.0 and options.requests is None
    assert options.request.method == "GET" and options.connections == 10
    assert not options.open_model and not options.http2 and options.streams == 10
    assert options.workers == min(os.cpu_count() or 1, 10)
    assert options.timeout_s == 10.0 and options.warmup_s == 0.0
    assert options.json_path is None and options.html_path is None


def test_every_option_lands_in_its_field(tmp_path: Path) -> None:
    body = tmp_path / "body.bin"
    body.write_bytes(b"\x00\x01")
    options = parse(
        "https://h.test/x",
        "-c",
        "64",
        "-d",
        "500ms",
        "--rate",
        "250.5",
        "--http2",
        "-m",
        "20",
        "-X",
        "put",
        "-H",
        "A: 1",
        "-H",
        "B: 2",
        "--body",
        f"@{body}",
        "--timeout",
        "2s",
        "--workers",
        "3",
        "--warmup",
        "1s",
        "--insecure",
        "--by-header",
        "X-Upstream",
        "--json",
        "out.json",
        "--html",
        "out.html",
    )
    assert options.connections == 64 and options.duration_s == 0.5
    assert options.rate == 250.5 and options.open_model
    assert options.http2 and options.streams == 20
    assert options.request.method == "PUT" and options.request.body == b"\x00\x01"
    assert options.request.headers == (("A", "1"), ("B", "2"))
    assert options.timeout_s == 2.0 and options.workers == 3 and options.warmup_s == 1.0
    assert options.insecure and options.by_header == "X-Upstream"
    assert (options.json_path, options.html_path) == ("out.json", "out.html")


def test_a_body_makes_the_default_method_post() -> None:
    options = parse("http://h.test/", "--body", "hello")
    assert (options.request.method, options.request.body) == ("POST", b"hello")


def test_json_without_a_file_means_stdout() -> None:
    assert parse("http://h.test/", "--json").json_path == "-"


def test_workers_never_outnumber_connections_or_requests() -> None:
    assert parse("http://h.test/", "-c", "2", "--workers", "8").workers == 2
    assert parse("http://h.test/", "-n", "3", "-c", "10", "--workers", "8").workers == 3


def test_duration_and_request_count_exclude_each_other() -> None:
    with pytest.raises(SystemExit):
        parse("http://h.test/", "-d", "1s", "-n", "10")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["ftp://h.test/"], "scheme must be http or https"),
        (["http://h.test/", "-c", "0"], "-c: need at least one connection"),
        (["http://h.test/", "-n", "0"], "-n: need at least one request"),
        (["http://h.test/", "-d", "soon"], "-d: expected a duration"),
        (["http://h.test/", "-d", "0s"], "-d: the duration must be positive"),
        (["http://h.test/", "--rate", "-5"], "--rate: must be a positive"),
        (["http://h.test/", "-m", "4"], "-m: streams apply to HTTP/2 only"),
        (["http://h.test/", "--http2", "-m", "0"], "-m: need at least one stream"),
        (["http://h.test/", "--timeout", "2h"], "--timeout: must be between"),
        (["http://h.test/", "--workers", "0"], "--workers: need at least one"),
        (["http://h.test/", "-H", "nocolon"], "bad header"),
        (["http://h.test/", "--body", "@/nonexistent/file"], "--body: cannot read"),
        (["http://h.test/", "--by-header", "bad name"], "--by-header"),
    ],
)
def test_bad_values_give_one_line_errors(argv: list[str], message: str) -> None:
    with pytest.raises(OptionsError, match=message) as info:
        parse(*argv)
    assert "\n" not in str(info.value)
