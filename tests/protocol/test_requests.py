"""Request parsing, the same suite for both codecs (the `codec` fixture)."""

from __future__ import annotations

import pytest

from meshlb.protocol.messages import H1Limits

from .conftest import RequestFactory, bytewise, feed_all

GET = b"GET /index.html?q=1 HTTP/1.1\r\nHost: a.example\r\nAccept: */*\r\n\r\n"


def test_simple_get_gives_head_then_end(request_parser: RequestFactory) -> None:
    parser, rec = request_parser()
    parser.feed(GET)
    assert rec.kinds == ["head", "end"]
    head = rec.heads[0]
    assert (head.method, head.target, head.version, head.host) == (
        b"GET",
        b"/index.html?q=1",
        b"1.1",
        b"a.example",
    )
    assert head.headers == [(b"accept", b"*/*")]
    assert head.keep_alive and not head.chunked and head.content_length is None
    assert not head.has_body and not head.expect_continue and head.upgrade is None
    assert parser.idle


def test_names_are_lowered_and_values_trimmed(request_parser: RequestFactory) -> None:
    parser, rec = request_parser()
    parser.feed(
        b"GET / HTTP/1.1\r\nHOST: a.example\r\nUser-Agent: \t ua/1 \t\r\nX-Custom-Thing:v\r\n"
        b"Empty:\r\nCookie: a=1\r\nCookie: b=2\r\n\r\n"
    )
    assert rec.heads[0].headers == [
        (b"user-agent", b"ua/1"),
        (b"x-custom-thing", b"v"),
        (b"empty", b""),
        (b"cookie", b"a=1"),
        (b"cookie", b"b=2"),
    ]


def test_hop_by_hop_fields_are_removed(request_parser: RequestFactory) -> None:
    parser, rec = request_parser()
    parser.feed(
        b"GET / HTTP/1.1\r\nHost: a.example\r\nConnection: keep-alive, X-Secret, x-trace\r\n"
        b"Keep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nTE: trailers\r\n"
        b"Trailer: X-Sum\r\nProxy-Authorization: Basic Zm9v\r\nProxy-Anything: 1\r\n"
        b"X-Secret: s\r\nX-Trace: t\r\nX-Kept: k\r\n\r\n"
    )
    head = rec.heads[0]
    assert head.headers == [(b"x-kept", b"k")]
    assert head.keep_alive


def test_forwarding_fields_are_surfaced(request_parser: RequestFactory) -> None:
    parser, rec = request_parser()
    parser.feed(
        b"GET / HTTP/1.1\r\nHost: a.example\r\nX-Forwarded-For: 10.0.0.1\r\n"
        b"X-Request-Id: abc-123\r\nx-forwarded-for: 10.0.0.2, 10.0.0.3\r\n\r\n"
    )
    head = rec.heads[0]
    assert head.forwarded_for == b"10.0.0.1, 10.0.0.2, 10.0.0.3"
    assert head.request_id == b"abc-123"
    assert head.headers == [(b"x-request-id", b"abc-123")]


def test_connection_may_declare_forwarding_fields_hop_by_hop(
    request_parser: RequestFactory,
) -> None:
    parser, rec = request_parser()
    parser.feed(
        b"GET / HTTP/1.1\r\nHost: a.example\r\nConnection: X-Forwarded-For, X-Request-Id\r\n"
        b"X-Forwarded-For: 1.2.3.4\r\nX-Request-Id: r\r\n\r\n"
    )
    head = rec.heads[0]
    assert head.forwarded_for is None and head.request_id is None and head.headers == []


@pytest.mark.parametrize(
    ("version", "connection", "keep_alive"),
    [
        (b"1.1", None, True),
        (b"1.1", b"keep-alive", True),
        (b"1.1", b"close", False),
        (b"1.1", b"Close", False),
        (b"1.1", b"keep-alive, close", False),
        (b"1.0", None, False),
        (b"1.0", b"keep-alive", True),
        (b"1.0", b"Keep-Alive", True),
        (b"1.0", b"close", False),
        (b"1.0", b"keep-alive, close", False),
    ],
)
def test_keep_alive_follows_rfc9112_section_9_3(
    request_parser: RequestFactory, version: bytes, connection: bytes | None, keep_alive: bool
) -> None:
    parser, rec = request_parser()
    extra = b"Connection: " + connection + b"\r\n" if connection else b""
    parser.feed(b"GET / HTTP/" + version + b"\r\nHost: a.example\r\n" + extra + b"\r\n")
    assert rec.heads[0].keep_alive is keep_alive


def test_nothing_is_parsed_after_a_request_that_closes(request_parser: RequestFactory) -> None:
    parser, rec = request_parser()
    parser.feed(b"GET /1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET /2 HTTP/1.1\r\n")
    parser.feed(b"Host: a\r\n\r\n")
    assert [h.target for h in rec.heads] == [b"/1"]
    assert rec.kinds == ["head", "end"]


def test_pipelined_requests_in_one_feed_come_out_in_order(request_parser: RequestFactory) -> None:
    parser, rec = request_parser()
    parser.feed(
        b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
        b"POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
        b"POST /3 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
        b"GET /4 HTTP/1.1\r\nHost: a\r\n\r\n"
    )
    assert rec.kinds == ["head", "end", "head", "body", "end", "head", "body", "end", "head", "end"]
    assert [h.target for h in rec.heads] == [b"/1", b"/2", b"/3", b"/4"]
    assert rec.bodies == [b"", b"hello", b"abc", b""]


PIPELINE = (
    b"POST /cl HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world"
    b"POST /chunked HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"4;ext=1\r\nwiki\r\n5\r\npedia\r\n0\r\nX-Trailer: gone\r\n\r\n"
    b"\r\nGET /after HTTP/1.1\r\nHost: a\r\n\r\n"
)


def test_bodies_split_at_every_byte_boundary(request_parser: RequestFactory) -> None:
    for cut in range(1, len(PIPELINE)):
        parser, rec = request_parser()
        feed_all(parser, [PIPELINE[:cut], PIPELINE[cut:]])
        assert rec.error is None, (cut, rec.events)
        assert [h.target for h in rec.heads] == [b"/cl", b"/chunked", b"/after"], cut
        assert rec.bodies == [b"hello world", b"wikipedia", b""], cut


def test_bodies_fed_one_byte_at_a_time(request_parser: RequestFactory) -> None:
    parser, rec = request_parser()
    feed_all(parser, bytewise(PIPELINE))
    assert rec.bodies == [b"hello world", b"wikipedia", b""]
    assert rec.heads[0].content_length == 11 and rec.heads[1].chunked


def test_expect_100_continue_is_flagged(request_parser: RequestFactory) -> None:
    parser, rec = request_parser()
    parser.feed(b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 2\r\n\r\n")
    head = rec.heads[0]
    assert head.expect_continue and rec.kinds == ["head"]
    parser.feed(b"ok")
    assert rec.bodies == [b"ok"]


def test_expect_is_ignored_in_http10(request_parser: RequestFactory) -> None:
    parser, rec = request_parser()
    parser.feed(b"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n")
    assert not rec.heads[0].expect_continue


UPGRADE = b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"


def test_upgrade_request_pauses_and_detach_returns_the_held_bytes(
    request_parser: RequestFactory,
) -> None:
    parser, rec = request_parser()
    parser.feed(UPGRADE + b"\x81\x05hello")
    parser.feed(b"\x88\x00")
    assert rec.kinds == ["head", "end"]
    assert rec.heads[0].upgrade == b"websocket" and rec.heads[0].headers == []
    assert parser.detach() == b"\x81\x05hello\x88\x00"
    with pytest.raises(RuntimeError):
        parser.feed(b"more")


def test_refused_upgrade_resumes_http_parsing(request_parser: RequestFactory) -> None:
    parser, rec = request_parser()
    parser.feed(UPGRADE + b"GET /next HTTP/1.1\r\n")
    assert [h.target for h in rec.heads] == [b"/ws"]
    parser.resume()
    parser.feed(b"Host: a\r\n\r\n")
    assert [h.target for h in rec.heads] == [b"/ws", b"/next"]
    assert rec.heads[1].upgrade is None


def test_upgrade_without_connection_token_is_not_an_upgrade(
    request_parser: RequestFactory,
) -> None:
    parser, rec = request_parser()
    parser.feed(b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n" + GET)
    assert [h.upgrade for h in rec.heads] == [None, None]


def test_upgrade_is_ignored_in_http10(request_parser: RequestFactory) -> None:
    parser, rec = request_parser()
    parser.feed(b"GET / HTTP/1.0\r\nConnection: upgrade, keep-alive\r\nUpgrade: x\r\n\r\n" + GET)
    assert [h.upgrade for h in rec.heads] == [None, None]


H2C = (
    b"GET /h2 HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
    b"HTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n"
)


def test_an_upgrade_to_an_unlisted_protocol_is_an_ordinary_request(
    request_parser: RequestFactory,
) -> None:
    # RFC 9110 §7.8: a server may ignore Upgrade. Nothing of the offer travels on, and the
    # bytes after it are the next HTTP/1.1 request, not held for another protocol.
    parser, rec = request_parser()
    parser.feed(H2C + GET)
    assert [h.upgrade for h in rec.heads] == [None, None]
    assert rec.heads[0].headers == []  # Upgrade, Connection and HTTP2-Settings are gone
    assert rec.kinds == ["head", "end", "head", "end"]


def test_an_ignored_upgrade_may_carry_a_body(request_parser: RequestFactory) -> None:
    parser, rec = request_parser()
    parser.feed(
        H2C.replace(b"GET", b"POST").replace(b"\r\n\r\n", b"\r\nContent-Length: 2\r\n\r\nhi")
    )
    assert rec.error is None and rec.heads[0].upgrade is None and rec.bodies == [b"hi"]


@pytest.mark.parametrize(
    ("offer", "kept"),
    [
        (b"websocket", b"websocket"),
        (b"WebSocket", b"WebSocket"),
        (b"h2c, websocket", b"websocket"),
        (b"websocket/13, foo/1", b"websocket/13"),
        (b"h2c", None),
        (b"websockets", None),
    ],
)
def test_only_listed_protocols_are_offered_upstream(
    request_parser: RequestFactory, offer: bytes, kept: bytes | None
) -> None:
    parser, rec = request_parser()
    parser.feed(UPGRADE.replace(b"Upgrade: websocket", b"Upgrade: " + offer))
    assert rec.heads[0].upgrade == kept


def test_the_listener_chooses_the_protocols(request_parser: RequestFactory) -> None:
    parser, rec = request_parser(H1Limits(upgrade=frozenset({b"h2c"})))
    parser.feed(H2C)
    assert rec.heads[0].upgrade == b"h2c"
    parser, rec = request_parser(H1Limits(upgrade=frozenset()))
    parser.feed(UPGRADE + GET)
    assert [h.upgrade for h in rec.heads] == [None, None]


def test_absolute_form_becomes_origin_form(request_parser: RequestFactory) -> None:
    parser, rec = request_parser()
    parser.feed(b"GET http://a.example:8080/p/q?x=1 HTTP/1.1\r\nHost: a.example:8080\r\n\r\n")
    head = rec.heads[0]
    assert (head.target, head.host) == (b"/p/q?x=1", b"a.example:8080")


def test_absolute_form_with_another_host_is_rejected_by_default(
    request_parser: RequestFactory,
) -> None:
    parser, rec = request_parser()
    parser.feed(b"GET http://b.example/ HTTP/1.1\r\nHost: a.example\r\n\r\n")
    assert rec.error == 400 and not rec.heads


def test_absolute_form_authority_replaces_host_when_rewriting(
    request_parser: RequestFactory,
) -> None:
    parser, rec = request_parser(H1Limits(absolute_form="rewrite"))
    parser.feed(b"GET https://b.example/x HTTP/1.1\r\nHost: a.example\r\n\r\n")
    head = rec.heads[0]
    assert (head.target, head.host) == (b"/x", b"b.example")


def test_absolute_form_gives_a_host_to_http10(request_parser: RequestFactory) -> None:
    parser, rec = request_parser()
    parser.feed(b"GET http://b.example HTTP/1.0\r\n\r\n")
    assert (rec.heads[0].target, rec.heads[0].host) == (b"/", b"b.example")


@pytest.mark.parametrize(
    ("limits", "request_bytes", "status"),
    [
        (H1Limits(max_header_bytes=64), b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"y" * 60, 431),
        (H1Limits(max_headers=2), b"GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n", 431),
        (H1Limits(max_target_bytes=4), b"GET /12345 HTTP/1.1\r\nHost: a\r\n\r\n", 414),
        (
            H1Limits(max_body_bytes=4),
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n",
            413,
        ),
    ],
    ids=["header-bytes", "header-count", "target", "content-length"],
)
def test_limits_answer_their_status(
    request_parser: RequestFactory, limits: H1Limits, request_bytes: bytes, status: int
) -> None:
    parser, rec = request_parser(limits)
    parser.feed(request_bytes)
    assert rec.error == status and not rec.heads


def test_a_head_exactly_at_the_limit_is_accepted(request_parser: RequestFactory) -> None:
    head = b"GET / HTTP/1.1\r\nHost: a\r\nX: yy\r\n\r\n"
    for pieces in ([head], bytewise(head)):
        parser, rec = request_parser(H1Limits(max_header_bytes=len(head)))
        feed_all(parser, pieces)
        assert rec.kinds == ["head", "end"]
        parser, rec = request_parser(H1Limits(max_header_bytes=len(head) - 1))
        feed_all(parser, pieces)
        assert rec.error == 431


def test_a_growing_head_is_refused_before_it_ends(request_parser: RequestFactory) -> None:
    parser, rec = request_parser(H1Limits(max_header_bytes=100))
    parser.feed(b"GET / HTTP/1.1\r\nHost: a\r\n")
    for _ in range(20):
        parser.feed(b"X-Filler: 0123456789\r\n")
    assert rec.error == 431 and not rec.heads


def test_chunked_body_over_the_limit_is_refused_as_the_total_passes_it(
    request_parser: RequestFactory,
) -> None:
    parser, rec = request_parser(H1Limits(max_body_bytes=10))
    parser.feed(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
    parser.feed(b"6\r\nabcdef\r\n")
    assert rec.error is None
    parser.feed(b"5\r\n")
    assert rec.error == 413 and rec.bodies == []


def test_malformed_head_split_across_reads_is_refused_at_once(
    request_parser: RequestFactory,
) -> None:
    # No CRLFCRLF will ever come: waiting for one would only wait for a timeout.
    for partial, status in [
        (b"GET / HTTP/1.1\nHost: a\n", 400),
        (b"GET /\r\n", 400),
        (b"GET / HTTP/2.0\r\n", 505),
        (b"GET / HTTP/1.1\r\nHost: a\r\n  folded\r\n", 400),
    ]:
        parser, rec = request_parser()
        parser.feed(partial)
        assert rec.error == status, partial


def test_empty_lines_before_a_request_are_skipped_even_when_split(
    request_parser: RequestFactory,
) -> None:
    parser, rec = request_parser()
    feed_all(parser, [b"\r", b"\n\r", b"\n", GET])
    assert rec.kinds == ["head", "end"]


def test_eof_mid_request_is_quiet_and_final(request_parser: RequestFactory) -> None:
    for partial in (b"GET / HT", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9\r\n\r\nabc"):
        parser, rec = request_parser()
        parser.feed(partial)
        events = list(rec.events)
        parser.feed_eof()
        parser.feed(GET)
        assert rec.events == events
        assert not parser.idle


def test_parser_repr_names_its_state(request_parser: RequestFactory) -> None:
    parser, _ = request_parser()
    parser.feed(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9\r\n\r\nabc")
    assert "body" in repr(parser) and "remaining=6" in repr(parser)


def test_http10_request_without_host(request_parser: RequestFactory) -> None:
    parser, rec = request_parser()
    parser.feed(b"GET / HTTP/1.0\r\n\r\n")
    head = rec.heads[0]
    assert (head.host, head.version, head.keep_alive) == (b"", b"1.0", False)


def test_unknown_codec_is_refused() -> None:
    from meshlb.protocol import make_request_parser

    with pytest.raises(ValueError, match="codec"):
        make_request_parser("picohttpparser", object(), H1Limits())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "raw"),
    [
        (b"Host: a.example\r\nAccept:  */* \r\n", b"Host: a.example\r\nAccept:  */* \r\n"),
        (b"X-Request-Id: r\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 0\r\n", True),
        (b"Host: a\r\nTransfer-Encoding: chunked\r\n", True),
        (b"Host: a\r\nContent-Length: 00\r\n", None),
        (b"Host: a\r\nContent-Length: 0 \r\n", None),
        (b"Host: a \r\nContent-Length: 0\r\n", None),
        (b"Host: a\r\nTransfer-Encoding: Chunked\r\n", None),
        # Connection is hop-by-hop: never verbatim; a codec may give the other lines.
        (b"Host: a\r\nConnection: keep-alive\r\n", (None, b"Host: a\r\n")),
        (b"Host: a\r\nX-Forwarded-For: 1.2.3.4\r\n", None),
        (b"Host: a\r\nProxy-Authorization: x\r\n", None),
        (b"Host: a\r\nTE: trailers\r\n", None),
    ],
)
def test_field_lines_are_kept_verbatim_when_forwarding_them_is_the_same(
    request_parser: RequestFactory, fields: bytes, raw: bytes | bool | tuple | None
) -> None:
    parser, rec = request_parser()
    body = b"0\r\n\r\n" if b"chunked" in fields.lower() else b""
    parser.feed(b"POST /x HTTP/1.1\r\n" + fields + b"\r\n" + body)
    if isinstance(raw, tuple):
        assert rec.heads[0].raw in raw
    else:
        assert rec.heads[0].raw == (fields if raw is True else raw)


def test_absolute_form_never_forwards_the_received_host_line(
    request_parser: RequestFactory,
) -> None:
    parser, rec = request_parser()
    parser.feed(b"GET http://a.example/ HTTP/1.1\r\nHost: A.example\r\n\r\n")
    assert rec.heads[0].raw is None
