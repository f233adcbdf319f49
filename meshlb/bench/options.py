"""The bench command line, checked once into a typed `BenchOptions`.

`add_arguments` only declares options; everything that can be wrong with a value is found in
`options_from_namespace`, which raises `OptionsError` with a one-line message, so that the
standalone entry point and the main CLI report mistakes the same way.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass

from meshlb.bench.duration import parse_duration
from meshlb.bench.request import RequestError, RequestSpec, check_method, parse_header
from meshlb.bench.target import Target, TargetError, parse_target

DEFAULT_DURATION = "10s"
DEFAULT_CONNECTIONS = 10
DEFAULT_STREAMS = 10
DEFAULT_TIMEOUT = "10s"
MAX_TIMEOUT_S = 3600.0


class OptionsError(ValueError):
    """An option value is wrong; the message is one line for the user."""


@dataclass(frozen=True, slots=True)
class BenchOptions:
    target: Target
    request: RequestSpec
    connections: int
    duration_s: float | None  # None with -n
    requests: int | None  # None with -d
    rate: float | None  # None: closed model
    http2: bool
    streams: int
    timeout_s: float
    workers: int
    warmup_s: float
    insecure: bool
    by_header: str | None
    json_path: str | None  # "-" for stdout
    html_path: str | None

    @property
    def open_model(self) -> bool:
        return self.rate is not None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("url", metavar="URL", help="http:// or https:// URL to load")
    parser.add_argument(
        "-c",
        "--connections",
        type=int,
        default=DEFAULT_CONNECTIONS,
        help=f"connections to keep open (default {DEFAULT_CONNECTIONS})",
    )
    length = parser.add_mutually_exclusive_group()
    length.add_argument(
        "-d",
        "--duration",
        metavar="DURATION",
        help=f'how long to run: "10s", "500ms", "1m" (default {DEFAULT_DURATION})',
    )
    length.add_argument(
        "-n",
        "--requests",
        type=int,
        metavar="REQUESTS",
        help="send exactly this many requests, then stop",
    )
    parser.add_argument(
        "--rate",
        type=float,
        metavar="RPS",
        help="open model: send this many requests per second, whatever the "
        "latency, and correct for coordinated omission",
    )
    parser.add_argument("--http2", action="store_true", help="speak HTTP/2 (h2c or TLS+ALPN)")
    parser.add_argument(
        "-m",
        "--streams",
        type=int,
        metavar="STREAMS",
        help=f"HTTP/2 streams in flight per connection (default {DEFAULT_STREAMS})",
    )
    parser.add_argument("-X", "--method", help="request method (default GET, POST with --body)")
    parser.add_argument(
        "-H",
        "--header",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="add a request header (repeatable)",
    )
    parser.add_argument("--body", metavar="@FILE|TEXT", help="request body: text, or @file")
    parser.add_argument(
        "--timeout",
        default=DEFAULT_TIMEOUT,
        metavar="DURATION",
        help=f"connect and response timeout (default {DEFAULT_TIMEOUT})",
    )
    parser.add_argument(
        "--workers", type=int, metavar="N", help="worker processes (default: one per core)"
    )
    parser.add_argument(
        "--warmup",
        default="0s",
        metavar="DURATION",
        help="send load this long before measuring (default 0s)",
    )
    parser.add_argument(
        "--insecure", action="store_true", help="do not verify the server's TLS certificate"
    )
    parser.add_argument(
        "--by-header", metavar="NAME", help="count responses per value of this response header"
    )
    parser.add_argument(
        "--json",
        nargs="?",
        const="-",
        metavar="FILE",
        help="write the results as JSON to FILE, or to stdout without FILE",
    )
    parser.add_argument("--html", metavar="FILE", help="write an HTML report with charts")


def _duration(name: str, text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise OptionsError(f"{name}: {exc}") from None


def _body(text: str | None) -> bytes:
    if text is None:
        return b""
    if text.startswith("@"):
        try:
            with open(text[1:], "rb") as file:
                return file.read()
        except OSError as exc:
            raise OptionsError(f"--body: cannot read {text[1:]!r}: {exc.strerror}") from None
    return text.encode("utf-8")


def options_from_namespace(args: argparse.Namespace) -> BenchOptions:
    try:
        target = parse_target(args.url)
        body = _body(args.body)
        method = check_method(args.method or ("POST" if args.body is not None else "GET"))
        headers = tuple(parse_header(text) for text in args.header)
    except (TargetError, RequestError) as exc:
        raise OptionsError(str(exc)) from None
    if args.connections < 1:
        raise OptionsError("-c: need at least one connection")
    if args.requests is not None and args.requests < 1:
        raise OptionsError("-n: need at least one request")
    duration = None
    if args.requests is None:
        duration = _duration("-d", args.duration or DEFAULT_DURATION)
        if duration <= 0:
            raise OptionsError("-d: the duration must be positive")
    if args.rate is not None and not args.rate > 0:
        raise OptionsError("--rate: must be a positive number of requests per second")
    if args.streams is not None and not args.http2:
        raise OptionsError("-m: streams apply to HTTP/2 only; add --http2")
    streams = DEFAULT_STREAMS if args.streams is None else args.streams
    if streams < 1:
        raise OptionsError("-m: need at least one stream per connection")
    timeout = _duration("--timeout", args.timeout)
    if not 0 < timeout <= MAX_TIMEOUT_S:
        raise OptionsError("--timeout: must be between 0 and 1h")
    warmup = _duration("--warmup", args.warmup)
    workers = args.workers if args.workers is not None else os.cpu_count() or 1
    if workers < 1:
        raise OptionsError("--workers: need at least one")
    # Never more workers than connections or requests to share among them.
    workers = min(workers, args.connections, args.requests or workers)
    if args.by_header is not None:
        try:
            parse_header(f"{args.by_header}: x")
        except RequestError:
            raise OptionsError(f"--by-header: {args.by_header!r} is not a header name") from None
    return BenchOptions(
        target=target,
        request=RequestSpec(method, target, headers, body),
        connections=args.connections,
        duration_s=duration,
        requests=args.requests,
        rate=args.rate,
        http2=args.http2,
        streams=streams,
        timeout_s=timeout,
        workers=workers,
        warmup_s=warmup,
        insecure=args.insecure,
        by_header=args.by_header,
        json_path=args.json,
        html_path=args.html,
    )
