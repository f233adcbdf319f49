"""Response parsing, the same suite for both codecs (the `codec` fixture)."""

from __future__ import annotations

import pytest

from meshlb.protocol.messages import H1Limits

from .conftest import ResponseFactory, bytewise, feed_all

OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"


def test_response_with_content_length(response_parser: ResponseFactory) -> None:
    parser, rec = response_parser()
    parser.expect(b"GET")
    parser.feed(OK)
    assert rec.kinds == ["head", "body", "end"]
    head = rec.heads[0]
    assert (head.status, head.reason, head.version) == (200, b"OK", b"1.1")
    assert head.headers == [(b"content-type", b"text/plain")]
    assert head.content_length == 5 and head.keep_alive and not head.chunked
    assert parser.idle


def test_many_responses_on_one_connection(response_parser: ResponseFactory) -> None:
    parser, rec = response_parser()
    for _ in range(3):
        parser.expect(b"GET")
    parser.feed(OK + b"HTTP/1.1 204 No Content\r\n\r\n" + OK[:30])
    parser.feed(OK[30:])
    assert rec.bodies == [b"hello", b"", b"hello"]
    assert [h.status for h in rec.heads] == [200, 204, 200]


@pytest.mark.parametrize("status", [204, 304])
def test_204_and_304_have_no_body(response_parser: ResponseFactory, status: int) -> None:
    parser, rec = response_parser()
    parser.expect(b"GET")
    parser.expect(b"GET")
    extra = b"Content-Length: 99\r\n" if status == 304 else b""
    parser.feed(b"HTTP/1.1 %d X\r\n%s\r\n" % (status, extra) + OK)
    assert rec.bodies == [b"", b"hello"]
    assert rec.heads[0].content_length == (99 if status == 304 else None)


def test_response_to_head_has_no_body_whatever_it_says(response_parser: ResponseFactory) -> None:
    parser, rec = response_parser()
    parser.expect(b"HEAD")
    parser.expect(b"HEAD")
    parser.expect(b"GET")
    parser.feed(
        b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + OK
    )
    assert rec.bodies == [b"", b"", b"hello"]
    assert rec.heads[0].content_length == 1234 and rec.heads[1].chunked


def test_informational_responses_precede_the_final_one(response_parser: ResponseFactory) -> None:
    parser, rec = response_parser()
    parser.expect(b"POST")
    parser.feed(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n")
    parser.feed(OK)
    assert rec.kinds == ["info", "info", "head", "body", "end"]
    assert [e[1].status for e in rec.events if e[0] == "info"] == [100, 103]
    assert rec.events[1][1].headers == [(b"link", b"</a>")]


def test_switching_protocols_pauses_and_keeps_the_upgrade_field(
    response_parser: ResponseFactory,
) -> None:
    parser, rec = response_parser()
    parser.expect(b"GET")
    parser.feed(
        b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n"
        b"Sec-WebSocket-Accept: x\r\n\r\n\x81\x02hi"
    )
    assert rec.kinds == ["head", "end"]
    assert rec.heads[0].headers == [(b"sec-websocket-accept", b"x"), (b"upgrade", b"websocket")]
    parser.feed(b"\x81\x00")
    assert parser.detach() == b"\x81\x02hi\x81\x00"


def test_read_until_close(response_parser: ResponseFactory) -> None:
    parser, rec = response_parser()
    parser.expect(b"GET")
    parser.feed(b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n\r\npart one, ")
    parser.feed(b"part two")
    assert rec.kinds == ["head", "body"]
    assert not rec.heads[0].keep_alive, "a body read until close ends the connection"
    parser.feed_eof()
    assert rec.bodies == [b"part one, part two"]


def test_http10_response_without_length_reads_until_close(response_parser: ResponseFactory) -> None:
    parser, rec = response_parser()
    parser.expect(b"GET")
    feed_all(parser, bytewise(b"HTTP/1.0 200 OK\r\nServer: old\r\n\r\nabc"))
    parser.feed_eof()
    assert rec.bodies == [b"abc"] and rec.heads[0].version == b"1.0"


@pytest.mark.parametrize(
    "partial",
    [
        b"HTTP/1.1 200 OK\r\nContent-Len",
        OK[:-1],
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
    ],
    ids=["mid-head", "mid-length-body", "mid-chunked-body"],
)
def test_eof_mid_response_is_an_error(response_parser: ResponseFactory, partial: bytes) -> None:
    parser, rec = response_parser()
    parser.expect(b"GET")
    parser.feed(partial)
    parser.feed_eof()
    assert rec.error == 502 and "end" not in rec.kinds


def test_eof_before_any_response_byte_is_left_to_the_connection(
    response_parser: ResponseFactory,
) -> None:
    parser, rec = response_parser()
    parser.expect(b"GET")
    parser.feed_eof()
    assert rec.events == []


CHUNKED = (
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nCache-Control: no-store\r\n\r\n"
    b"7\r\nchunked\r\n1;x=y\r\n \r\n4\r\nbody\r\n0\r\nServer-Timing: db;dur=1\r\n\r\n"
)


def test_chunked_response_split_at_every_byte_boundary(response_parser: ResponseFactory) -> None:
    message = CHUNKED + OK
    for cut in range(1, len(message)):
        parser, rec = response_parser()
        parser.expect(b"GET")
        parser.expect(b"GET")
        feed_all(parser, [message[:cut], message[cut:]])
        assert rec.bodies == [b"chunked body", b"hello"], cut


@pytest.mark.parametrize(
    ("version", "connection", "keep_alive"),
    [
        (b"1.1", b"", True),
        (b"1.1", b"close", False),
        (b"1.0", b"", False),
        (b"1.0", b"keep-alive", True),
    ],
)
def test_response_keep_alive(
    response_parser: ResponseFactory, version: bytes, connection: bytes, keep_alive: bool
) -> None:
    parser, rec = response_parser()
    parser.expect(b"GET")
    extra = b"Connection: " + connection + b"\r\n" if connection else b""
    parser.feed(b"HTTP/" + version + b" 200 OK\r\n" + extra + b"Content-Length: 0\r\n\r\n")
    assert rec.heads[0].keep_alive is keep_alive


MALFORMED_RESPONSES = [
    ("cl_and_te", b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"),
    ("cl_duplicate", b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc"),
    ("cl_list", b"HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\nabc"),
    ("cl_sign", b"HTTP/1.1 200 OK\r\nContent-Length: +3\r\n\r\nabc"),
    ("te_gzip", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nabc"),
    ("te_http10", b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    ("bare_lf", b"HTTP/1.1 200 OK\nContent-Length: 0\n\n"),
    ("obs_fold", b"HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 0\r\n\r\n"),
    ("nul_in_value", b"HTTP/1.1 200 OK\r\nX: a\x00\r\nContent-Length: 0\r\n\r\n"),
    ("space_before_colon", b"HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n"),
    ("status_two_digits", b"HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n"),
    ("status_out_of_range", b"HTTP/1.1 700 Odd\r\nContent-Length: 0\r\n\r\n"),
    ("version_2", b"HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"),
    ("version_garbage", b"HTTX/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
    ("length_on_204", b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n"),
    ("chunked_on_1xx", b"HTTP/1.1 100 Continue\r\nTransfer-Encoding: chunked\r\n\r\n"),
    ("bad_chunk_size", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
    ("chunk_without_crlf", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab"),
    (
        "connection_names_cl",
        b"HTTP/1.1 200 OK\r\nConnection: content-length\r\nContent-Length: 0\r\n\r\n",
    ),
]


@pytest.mark.parametrize(
    ("name", "raw"), MALFORMED_RESPONSES, ids=[n for n, _ in MALFORMED_RESPONSES]
)
def test_malformed_response_is_an_error(
    response_parser: ResponseFactory, name: str, raw: bytes
) -> None:
    for pieces in ([raw], bytewise(raw)):
        parser, rec = response_parser()
        parser.expect(b"GET")
        feed_all(parser, pieces)
        assert rec.error == 502, (name, rec.events)
        assert "end" not in rec.kinds
        parser.feed(OK)
        assert rec.kinds.count("error") == 1


def test_response_head_limits(response_parser: ResponseFactory) -> None:
    parser, rec = response_parser(H1Limits(max_headers=2))
    parser.expect(b"GET")
    parser.feed(b"HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\nContent-Length: 0\r\n\r\n")
    assert rec.error == 502
    parser, rec = response_parser(H1Limits(max_header_bytes=40))
    parser.expect(b"GET")
    parser.feed(b"HTTP/1.1 200 OK\r\nServer: " + b"s" * 40 + b"\r\n")
    assert rec.error == 502


def test_a_response_to_no_request_is_an_error(response_parser: ResponseFactory) -> None:
    parser, rec = response_parser()
    parser.feed(OK)
    assert rec.error == 502
    assert rec.heads == []


@pytest.mark.parametrize(
    ("method", "surplus"),
    [
        (b"HEAD", b"hello"),  # the HEAD response's Content-Length describes no body here
        (b"GET", b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),  # a second response
        (b"GET", b"\r\n"),  # even an empty line: nothing may follow
    ],
)
def test_bytes_after_the_last_expected_response_end_the_connection(
    response_parser: ResponseFactory, method: bytes, surplus: bytes
) -> None:
    parser, rec = response_parser()
    parser.expect(method)
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
    parser.feed(head + (b"hello" if method == b"GET" else b"") + surplus)
    assert len(rec.heads) == 1
    assert rec.bodies == [b"hello" if method == b"GET" else b""]
    assert not parser.idle  # not reusable
    parser.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    assert len(rec.heads) == 1  # later bytes are ignored too


def test_a_304_followed_by_bytes_is_not_reused(response_parser: ResponseFactory) -> None:
    parser, rec = response_parser()
    parser.expect(b"GET")
    parser.feed(b"HTTP/1.1 304 Not Modified\r\n\r\nEVIL")
    assert rec.bodies == [b""] and not parser.idle


def test_a_response_ending_exactly_with_the_read_is_reusable(
    response_parser: ResponseFactory,
) -> None:
    parser, rec = response_parser()
    parser.expect(b"HEAD")
    parser.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")
    parser.expect(b"GET")
    parser.feed(OK)
    assert rec.bodies == [b"", b"hello"] and parser.idle


def test_response_field_lines_verbatim(response_parser: ResponseFactory) -> None:
    parser, rec = response_parser()
    for _ in range(2):
        parser.expect(b"GET")
    parser.feed(OK + b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
    assert rec.heads[0].raw == b"Content-Type: text/plain\r\nContent-Length: 5\r\n"
    # Connection is hop-by-hop: verbatim lines, if a codec gives them, leave it out.
    assert rec.heads[1].raw in (None, b"Content-Length: 0\r\n")
    assert not rec.heads[1].keep_alive


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (b"timeout=5", 5.0),
        (b"timeout=5, max=1000", 5.0),
        (b"max=100, Timeout = 2.5", 2.5),
        (b'timeout="3"', 3.0),
        (b"max=100", None),
        (b"timeout=soon", None),
        (b"timeout=-1", None),
    ],
)
def test_the_keep_alive_timeout_of_a_response_is_read(
    response_parser: ResponseFactory, value: bytes, seconds: float | None
) -> None:
    parser, rec = response_parser()
    parser.expect(b"GET")
    parser.feed(b"HTTP/1.1 200 OK\r\nKeep-Alive: " + value + b"\r\nContent-Length: 0\r\n\r\n")
    (head,) = rec.heads
    assert head.idle_timeout == seconds
    assert all(name != b"keep-alive" for name, _ in head.headers)  # hop-by-hop: not forwarded
