"""What an HTTP/1.1 codec costs per message, in microseconds of Python.

    python benchmarks/codec_cost.py [--n 200000] [--repeat 7]

Each row parses the same message over and over on one keep-alive connection, one message per
feed (the usual shape of a read), and reports the best of --repeat runs (the least disturbed
by the rest of the machine). "bare httptools" is httptools with the callbacks any user needs
(url, header list, completion) and no checks: the floor the llhttp codec is compared with.
The codec rows include everything up to the sink: head building, validation, body framing.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httptools

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from meshlb.protocol import make_request_parser, make_response_parser  # noqa: E402
from meshlb.protocol.messages import H1Limits, RequestHead, ResponseHead  # noqa: E402

GET = (
    b"GET /api/v1/items?id=42 HTTP/1.1\r\n"
    b"Host: api.example.com\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64) bench/1.0\r\n"
    b"Accept: application/json\r\n"
    b"Accept-Encoding: gzip, deflate, br\r\n"
    b"Accept-Language: en-US,en;q=0.9\r\n"
    b"Cookie: session=abcdef0123456789; theme=dark\r\n"
    b"X-Request-Id: 3f2a9c1e-4b7d-4e21-9a0f-5c6d7e8f9a0b\r\n"
    b"Connection: keep-alive\r\n"
    b"\r\n"
)
POST = (
    b"POST /api/v1/items HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: bench/1.0\r\n"
    b"Content-Type: application/json\r\nContent-Length: 27\r\n\r\n"
    b'{"name": "widget", "n": 42}'
)
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\nServer: bench\r\n"
    b"Content-Type: application/json\r\nCache-Control: no-store\r\nContent-Length: 27\r\n\r\n"
    b'{"name": "widget", "n": 42}'
)


class BareProtocol:
    """The least a user of httptools does: keep the url and the header list."""

    __slots__ = ("url", "headers", "body", "done")

    def __init__(self) -> None:
        self.headers: list[tuple[bytes, bytes]] = []
        self.done = 0

    def on_url(self, url: bytes) -> None:
        self.url = url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        pass

    def on_body(self, body: bytes) -> None:
        self.body = body

    def on_message_complete(self) -> None:
        self.done += 1
        self.headers = []


class NullSink:
    """Request and response sink that keeps nothing (as cheap as a sink can be)."""

    def on_request_head(self, head: RequestHead) -> None:
        pass

    def on_request_body(self, data: bytes) -> None:
        pass

    def on_request_end(self) -> None:
        pass

    def on_request_error(self, status: int, reason: str) -> None:
        raise AssertionError(f"benchmark message rejected: {status} {reason}")

    def on_response_head(self, head: ResponseHead) -> None:
        pass

    def on_response_informational(self, head: ResponseHead) -> None:
        pass

    def on_response_body(self, data: bytes) -> None:
        pass

    def on_response_end(self) -> None:
        pass

    def on_response_error(self, reason: str) -> None:
        raise AssertionError(f"benchmark response rejected: {reason}")


def bare_request() -> Callable[[bytes], None]:
    return httptools.HttpRequestParser(BareProtocol()).feed_data


def bare_response() -> Callable[[bytes], None]:
    return httptools.HttpResponseParser(BareProtocol()).feed_data


def codec_request(codec: str) -> Callable[[], Callable[[bytes], None]]:
    return lambda: make_request_parser(codec, NullSink(), H1Limits()).feed


def codec_response(codec: str) -> Callable[[], Callable[[bytes], None]]:
    def make() -> Callable[[bytes], None]:
        parser = make_response_parser(codec, NullSink(), H1Limits())

        def feed(data: bytes) -> None:
            parser.expect(b"GET")
            parser.feed(data)

        return feed

    return make


def measure(
    make: Callable[[], Callable[[bytes], None]], message: bytes, n: int, repeat: int
) -> float:
    best = float("inf")
    for _ in range(repeat):
        feed = make()
        start = time.perf_counter_ns()
        for _ in range(n):
            feed(message)
        best = min(best, (time.perf_counter_ns() - start) / n)
    return best / 1000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=200_000, help="messages per run")
    parser.add_argument("--repeat", type=int, default=7, help="runs per row (best is kept)")
    args = parser.parse_args()
    rows = [
        ("GET, 8 fields", GET, bare_request, codec_request),
        ("POST, 27-byte body", POST, bare_request, codec_request),
        ("response 200, 27-byte body", RESPONSE, bare_response, codec_response),
    ]
    n, repeat = args.n, args.repeat
    print(f"Python {sys.version.split()[0]}, httptools {httptools.__version__}; µs per message")
    row = "{:28} {:>15} {:>13} {:>14} {:>10}"
    print(row.format("message", "bare httptools", "llhttp codec", "(+ over bare)", "h11 codec"))
    for label, message, bare, codec in rows:
        bare_us = measure(bare, message, n, repeat)
        llhttp_us = measure(codec("llhttp"), message, n, repeat)
        h11_us = measure(codec("h11"), message, max(n // 10, 1000), repeat)
        extra = f"{llhttp_us - bare_us:+.2f}"
        print(row.format(label, f"{bare_us:.2f}", f"{llhttp_us:.2f}", extra, f"{h11_us:.2f}"))


if __name__ == "__main__":
    main()
