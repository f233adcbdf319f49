"""The readers' take_whole: one whole common message per read, handed over without feed()."""

from __future__ import annotations

from meshlb.protocol import make_request_parser, make_response_parser
from meshlb.protocol.messages import H1Limits, RequestHead, ResponseHead

GET = b"GET /a?b HTTP/1.1\r\nHost: example.test\r\nAccept: */*\r\n\r\n"
OK = b"HTTP/1.1 200 OK\r\nServer: s\r\nContent-Length: 5\r\n\r\nhello"


class Sink:
    def __init__(self) -> None:
        self.events: list[object] = []

    def on_request_head(self, head: RequestHead) -> None:
        self.events.append(head)

    def on_request_body(self, data: bytes) -> None:
        self.events.append(data)

    def on_request_end(self) -> None:
        self.events.append("end")

    def on_request_error(self, status: int, reason: str) -> None:
        self.events.append(status)

    def on_response_head(self, head: ResponseHead) -> None:
        self.events.append(head)

    def on_response_informational(self, head: ResponseHead) -> None:
        self.events.append(head)

    def on_response_body(self, data: bytes) -> None:
        self.events.append(data)

    def on_response_end(self) -> None:
        self.events.append("end")

    def on_response_error(self, reason: str) -> None:
        self.events.append(reason)


def test_a_whole_request_is_taken_and_the_reader_stays_ready() -> None:
    sink = Sink()
    parser = make_request_parser("llhttp", sink)
    head = parser.take_whole(GET)
    assert head is not None
    assert (head.method, head.target, head.host) == (b"GET", b"/a?b", b"example.test")
    assert head.headers == [(b"accept", b"*/*")]
    assert sink.events == []  # the caller handles it; the reader did not see it
    assert parser.idle
    parser.feed(GET)  # and the next request parses as usual
    assert isinstance(sink.events[0], RequestHead) and sink.events[1] == "end"


def test_requests_that_are_not_one_whole_bodiless_message_are_left_to_feed() -> None:
    parser = make_request_parser("llhttp", Sink())
    assert parser.take_whole(GET + GET) is None  # pipelined
    assert parser.take_whole(GET[:-2]) is None  # partial
    post = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n"
    assert parser.take_whole(post) is None  # its body follows
    assert parser.take_whole(b"\r\n" + GET) is None  # leading CRLF: the reader skips it
    small = make_request_parser("llhttp", Sink(), H1Limits(max_header_bytes=20))
    assert small.take_whole(GET) is None  # over the header limit: feed() answers 431
    parser.feed(b"GET / HTTP/1.1\r\n")  # mid-head: never
    assert parser.take_whole(b"Host: x\r\n\r\n") is None


def test_a_whole_request_that_closes_ends_the_reader() -> None:
    sink = Sink()
    parser = make_request_parser("llhttp", sink)
    head = parser.take_whole(
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Request-Id: abc\r\n\r\n"
    )
    assert head is not None and not head.keep_alive
    assert head.request_id == b"abc" and head.raw == b"Host: x\r\nX-Request-Id: abc\r\n"
    parser.feed(GET)  # RFC 9112 §9.6: nothing after it is read
    assert sink.events == []


def test_the_h11_codec_takes_nothing() -> None:
    assert make_request_parser("h11", Sink()).take_whole(GET) is None
    response = make_response_parser("h11", Sink())
    response.expect(b"GET")
    assert response.take_whole(OK) is None


def test_a_whole_response_is_taken_with_where_its_body_starts() -> None:
    parser = make_response_parser("llhttp", Sink())
    parser.expect(b"GET")
    whole = parser.take_whole(OK)
    assert whole is not None
    status, reason, keep_alive, raw, end = whole
    assert (status, reason, keep_alive, raw) == (
        200,
        b"OK",
        True,
        b"Server: s\r\nContent-Length: 5\r\n",
    )
    assert OK[end:] == b"hello"
    assert parser.take_whole(OK) is None  # nothing more is expected
    parser.expect(b"GET")
    assert parser.take_whole(OK) is not None  # the reader is ready for the next one


def test_responses_that_are_not_exactly_the_one_expected_are_left_to_feed() -> None:
    parser = make_response_parser("llhttp", Sink())
    assert parser.take_whole(OK) is None  # nothing expected
    parser.expect(b"HEAD")
    assert parser.take_whole(OK) is None  # a HEAD response has no body
    parser = make_response_parser("llhttp", Sink())
    parser.expect(b"GET")
    assert parser.take_whole(OK[:-1]) is None  # body incomplete
    assert parser.take_whole(OK + b"x") is None  # bytes after it
    assert parser.take_whole(b"HTTP/1.1 200 OK\r\nServer: s\r\n\r\n") is None  # until close
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    assert parser.take_whole(chunked) is None
    parser.expect(b"GET")
    assert parser.take_whole(OK) is None  # two outstanding: order is the reader's business


def test_a_whole_response_that_closes_ends_the_reader() -> None:
    sink = Sink()
    parser = make_response_parser("llhttp", sink)
    parser.expect(b"GET")
    closing = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    whole = parser.take_whole(closing)
    assert whole is not None and whole[2] is False  # keep_alive
    parser.feed(OK)  # nothing may follow a response that closes the connection
    assert sink.events == []
