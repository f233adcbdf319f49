"""The rules in validate.py, one function at a time."""

from __future__ import annotations

import pytest

from meshlb.protocol.messages import H1Limits
from meshlb.protocol.validate import (
    MAX_CHUNK_EXT_BYTES,
    ProtocolError,
    check_field_line,
    check_head_bytes,
    check_host,
    check_transfer_encoding,
    is_token,
    parse_chunk_size,
    parse_content_length,
    parse_request_line,
    parse_status_line,
    split_fields,
)

LIMITS = H1Limits(max_target_bytes=32)


def status_of(call: object, *args: object) -> int | None:
    try:
        call(*args)  # type: ignore[operator]
    except ProtocolError as exc:
        return exc.status
    return None


@pytest.mark.parametrize(
    ("line", "result"),
    [
        (b"GET / HTTP/1.1", (b"GET", b"/", b"1.1")),
        (b"OPTIONS * HTTP/1.0", (b"OPTIONS", b"*", b"1.0")),
        (b"PROPFIND /dav HTTP/1.1", (b"PROPFIND", b"/dav", b"1.1")),
        (b"GET  / HTTP/1.1", 400),
        (b"GET / HTTP/1.1 ", 400),
        (b"GET /", 400),
        (b"GET / HTTP/1.1 extra", 400),
        (b" GET / HTTP/1.1", 400),
        (b"GET / HTTP/1.2", 505),
        (b"GET / HTTP/9.9", 505),
        (b"GET / HTTP/1.10", 400),
        (b"GET / HTTPS/1.1", 400),
        (b"GET / HTTP/1.a", 400),
        (b"BREW / HTTP/1.1", 501),
        (b"CONNECT a:443 HTTP/1.1", 501),
        (b"GE:T / HTTP/1.1", 400),
        (b"GET /" + b"a" * 32 + b" HTTP/1.1", 414),
        (b"GET /caf\xc3\xa9 HTTP/1.1", 400),
        (b"GET /a\tb HTTP/1.1", 400),
        (b"GET /a\x7fb HTTP/1.1", 400),
    ],
)
def test_parse_request_line(line: bytes, result: tuple[bytes, ...] | int) -> None:
    if isinstance(result, int):
        assert status_of(parse_request_line, line, LIMITS) == result
    else:
        assert parse_request_line(line, LIMITS) == result


@pytest.mark.parametrize(
    ("line", "result"),
    [
        (b"HTTP/1.1 200 OK", (b"1.1", 200, b"OK")),
        (b"HTTP/1.0 404 Not Found", (b"1.0", 404, b"Not Found")),
        (b"HTTP/1.1 204 ", (b"1.1", 204, b"")),
        (b"HTTP/1.1 204", (b"1.1", 204, b"")),
        (b"HTTP/1.1 099 Low", 502),
        (b"HTTP/1.1 600 High", 502),
        (b"HTTP/1.1 2000 OK", 502),
        (b"HTTP/1.1 +20 OK", 502),
        (b"HTTP/2 200 OK", 502),
        (b"HTTP/2.0 200 OK", 502),
    ],
)
def test_parse_status_line(line: bytes, result: tuple[object, ...] | int) -> None:
    if isinstance(result, int):
        assert status_of(parse_status_line, line) == result
    else:
        assert parse_status_line(line) == result


@pytest.mark.parametrize(
    ("value", "length"),
    [
        (b"0", 0),
        (b"42", 42),
        (b"007", 7),
        (b"9" * 18, 10**18 - 1),
        (b"9" * 19, -1),
        (b"", -1),
        (b"+1", -1),
        (b"-1", -1),
        (b"1 2", -1),
        (b"1,1", -1),
        (b"0x1", -1),
        (b"\xd9\xa5", -1),
        (b"1e3", -1),
    ],
)
def test_parse_content_length(value: bytes, length: int) -> None:
    assert parse_content_length(value) == length


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        (b"chunked", True),
        (b"Chunked", True),
        (b"CHUNKED", True),
        (b"chunked ", False),
        (b"gzip, chunked", False),
        (b"chunked, chunked", False),
        (b"identity", False),
        (b"", False),
    ],
)
def test_check_transfer_encoding(value: bytes, ok: bool) -> None:
    assert check_transfer_encoding(value) is ok


@pytest.mark.parametrize(
    "host",
    [
        b"a.example",
        b"a.example:8080",
        b"a.example:",
        b"10.0.0.1:80",
        b"[::1]",
        b"[::1]:443",
        b"",
        b"xn--bcher-kva.example",
        b"a_b.example",
    ],
)
def test_valid_hosts(host: bytes) -> None:
    check_host(host)


@pytest.mark.parametrize(
    "host",
    [
        b"a b",
        b"u@a",
        b"a/b",
        b"a?b",
        b"a#b",
        b"a:8o",
        b"a:1:2",
        b"::1",
        b"[::1",
        b"[::1]x",
        b"a]",
        b"[a]:1]",
        b"a\\b",
        b"caf\xc3\xa9",
    ],
)
def test_invalid_hosts(host: bytes) -> None:
    assert status_of(check_host, host) == 400


def test_token_is_rfc9110_tchar() -> None:
    assert is_token(b"X-!#$%&'*+.^_`|~09az")
    for bad in (b"", b"a b", b"a:b", b"a/b", b"a\x00", b"\xc3\xa9", b'"a"', b"a(b)", b"a@b"):
        assert not is_token(bad), bad


@pytest.mark.parametrize(
    ("data", "complete", "status"),
    [
        (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", True, None),
        (b"GET / HTTP/1.1\r\nX: a\tb \x80\xff\r\n\r\n", True, None),
        (b"GET / HTTP/1.1\r", False, None),
        (b"GET / HTTP/1.1\r", True, 400),
        (b"GET / HTTP/1.1\nHost: a\r\n\r\n", True, 400),
        (b"GET / HTTP/1.1\r\r\n\r\n", True, 400),
        (b"GET / HTTP/1.1\r\nX: a\x0bb\r\n\r\n", True, 400),
        (b"GET / HTTP/1.1\r\nX: a\x7f\r\n\r\n", True, 400),
        (b"GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", True, 400),
        (b"GET / HTTP/1.1\r\n\tX: a\r\n\r\n", True, 400),
    ],
)
def test_check_head_bytes(data: bytes, complete: bool, status: int | None) -> None:
    assert status_of(check_head_bytes, data, 0, complete) == status


def test_check_head_bytes_incrementally_sees_faults_that_span_reads() -> None:
    faulty = (b"GET / HTTP/1.1\r\nX: a\r\n b\r\n", b"GET / HTTP/1.1\r\nX: a\r\r\n", b"GET /\n\r\n")
    for head in faulty:
        for cut in range(1, len(head)):
            if status_of(check_head_bytes, head[:cut], 0, False) is None:
                # The prefix looked fine: checking only what came after must still catch it.
                assert status_of(check_head_bytes, head, cut, False) == 400, (head, cut)


def test_split_fields_keeps_trailing_whitespace_for_the_builder() -> None:
    line, fields = split_fields(b"GET / HTTP/1.1\r\nA: 1\r\nB:\t2 \r\nC:\r\n\r\n")
    assert line == b"GET / HTTP/1.1"
    assert fields == [(b"A", b"1"), (b"B", b"2 "), (b"C", b"")]
    for bad in (
        b"GET / HTTP/1.1\r\nA : 1\r\n\r\n",
        b"GET / HTTP/1.1\r\nA\r\n\r\n",
        b"GET / HTTP/1.1\r\n: 1\r\n\r\n",
    ):
        assert status_of(split_fields, bad) == 400


@pytest.mark.parametrize(
    ("line", "result"),
    [
        (b"0", (0, 0)),
        (b"a", (10, 0)),
        (b"FFFFFFFFFFFFFFFF", (2**64 - 1, 0)),
        (b"0000000000000005", (5, 0)),
        (b"5;name", (5, 5)),
        (b'5;n=v;m="quoted \\" string"', (5, 25)),
        (b"5;a=b;c", (5, 6)),
        (b"", 400),
        (b"00000000000000005", 400),
        (b"5 ", 400),
        (b" 5", 400),
        (b"5 ;a", 400),
        (b"5;", 400),
        (b"5;a=", 400),
        (b"5;a b", 400),
        (b'5;a="b', 400),
        (b'5;a="\x00"', 400),
        (b'5;a="\\\x01"', 400),
        (b'5;a=b"c"', 400),
        (b"-5", 400),
        (b"0x5", 400),
    ],
)
def test_parse_chunk_size(line: bytes, result: tuple[int, int] | int) -> None:
    if isinstance(result, int):
        assert status_of(parse_chunk_size, line) == result
    else:
        assert parse_chunk_size(line) == result


def test_chunk_extension_budget_is_documented_in_bytes() -> None:
    assert MAX_CHUNK_EXT_BYTES == 4096


@pytest.mark.parametrize(
    ("line", "ok"),
    [
        (b"X-Sum: 1", True),
        (b"X:", True),
        (b"X : 1", False),
        (b" X: 1", False),
        (b"X: \x00", False),
        (b"X 1", False),
        (b"X: a\rb", False),
    ],
)
def test_check_field_line(line: bytes, ok: bool) -> None:
    assert (status_of(check_field_line, line) is None) is ok
