"""Framing responses to HEAD by their header block alone."""

from __future__ import annotations

import pytest
from httptools import HttpParserError

from meshlb.bench.head import HeadResponseParser


class Sink:
    def __init__(self, parser_factory: type[HeadResponseParser]) -> None:
        self.headers: list[tuple[bytes, bytes]] = []
        self.completed: list[tuple[int, bool]] = []
        self.parser = parser_factory(self)

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_message_complete(self) -> None:
        self.completed.append((self.parser.get_status_code(), self.parser.should_keep_alive()))


def test_a_response_ends_with_its_headers_even_with_a_content_length() -> None:
    sink = Sink(HeadResponseParser)
    sink.parser.feed_data(b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nX-A: b\r\n\r\n")
    assert sink.completed == [(200, True)]
    assert sink.headers == [(b"Content-Length", b"1234"), (b"X-A", b"b")]


def test_responses_split_across_reads_and_joined_in_one() -> None:
    sink = Sink(HeadResponseParser)
    sink.parser.feed_data(b"HTTP/1.1 204 No Content\r\nA: 1\r")
    assert sink.completed == []
    sink.parser.feed_data(b"\n\r\nHTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n")
    assert sink.completed == [(204, True), (404, False)]


def test_http10_keeps_alive_only_when_asked() -> None:
    sink = Sink(HeadResponseParser)
    sink.parser.feed_data(
        b"HTTP/1.0 200 OK\r\n\r\nHTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n"
    )
    assert sink.completed == [(200, False), (200, True)]


@pytest.mark.parametrize(
    "data",
    [b"SPDY/3 200 OK\r\n\r\n", b"HTTP/1.1 2x0 OK\r\n\r\n", b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n"],
)
def test_malformed_responses_raise_the_parser_error(data: bytes) -> None:
    with pytest.raises(HttpParserError):
        Sink(HeadResponseParser).parser.feed_data(data)


def test_an_endless_header_block_is_refused() -> None:
    with pytest.raises(HttpParserError, match="too large"):
        Sink(HeadResponseParser).parser.feed_data(b"HTTP/1.1 200 OK\r\n" + b"A: b\r\n" * 20000)
