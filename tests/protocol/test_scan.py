"""The C head scanners against their Python reference (fastpath.py): same input, same answer.

Heads are built from common and hostile pieces, then mutated byte by byte (insertions,
deletions, replacements), which is where a hand-written C scanner goes wrong: bounds, CR
without LF, a colon at the end, a name that is a prefix of a special one.
"""

from __future__ import annotations

import importlib.util
import shutil
import sysconfig
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meshlb.protocol import fastpath

try:
    from meshlb.protocol import _scan  # type: ignore[attr-defined]
except ImportError:  # built without a compiler: nothing to compare
    _scan = None

needs_c = pytest.mark.skipif(_scan is None, reason="the C scanner was not built")

NAMES = [
    b"Host",
    b"host",
    b"HOST",
    b"Content-Length",
    b"content-length",
    b"Connection",
    b"Transfer-Encoding",
    b"Upgrade",
    b"Keep-Alive",
    b"TE",
    b"Te",
    b"Trailer",
    b"Expect",
    b"X-Request-Id",
    b"X-Forwarded-For",
    b"X-Forwarded-Host",
    b"x-forwarded-",
    b"Forwarded",
    b"forwarded",
    b"X-Real-IP",
    b"x-real-ip",
    b"X-Real-IPs",
    b"Forwarde",
    b"Proxy-",
    b"Proxy-Authorization",
    b"Hostname",
    b"Content-Lengths",
    b"Connections",
    b"T",
    b"Tee",
    b"Server",
    b"Accept",
    b"User-Agent",
    b"X",
    b"Content-Type",
    b"Set-Cookie",
]
VALUES = [
    b"",
    b"x",
    b"a b",
    b"12",
    b"0",
    b"012",
    b"+1",
    b"1 ",
    b" 1",
    b"\t5",
    b"keep-alive",
    b"Close",
    b"close ",
    b"keep-alive, close",
    b"chunked",
    b"example.test",
    b"a:b",
    b"\x80",
    b"\x7f",
    b"\x00",
    b"v\rx",
    b"99999999999999999999",
    b"100-continue",
    b"*/*",
]
STARTS_REQUEST = [
    b"GET / HTTP/1.1",
    b"GET /a?b=c HTTP/1.1",
    b"POST /x HTTP/1.1",
    b"get / HTTP/1.1",
    b"GET /# HTTP/1.1",
    b"GET * HTTP/1.1",
    b"GET http://a/ HTTP/1.1",
    b"GET / HTTP/1.0",
    b"GET  / HTTP/1.1",
    b"BREW / HTTP/1.1",
    b"GET / HTTP/1.1 ",
    b"GET /\x7f HTTP/1.1",
]
STARTS_RESPONSE = [
    b"HTTP/1.1 200 OK",
    b"HTTP/1.1 200 ",
    b"HTTP/1.1 200",
    b"HTTP/1.1 404 Not Found",
    b"HTTP/1.1 101 Switching",
    b"HTTP/1.1 204 No Content",
    b"HTTP/1.1 304 x",
    b"HTTP/1.0 200 OK",
    b"HTTP/1.1 600 x",
    b"HTTP/1.1 20 OK",
    b"HTTP/1.1 2000 OK",
    b"HTTP/1.1 599 \t odd\t",
]

field = st.builds(
    lambda n, sep, v: n + sep + v + b"\r\n",
    st.sampled_from(NAMES),
    st.sampled_from([b": ", b":", b":\t", b" :", b": \t "]),
    st.sampled_from(VALUES),
)


def heads(starts: list[bytes]) -> st.SearchStrategy[bytes]:
    return st.builds(
        lambda start, fields: start + b"\r\n" + b"".join(fields) + b"\r\n",
        st.sampled_from(starts),
        st.lists(field, max_size=6),
    )


def mutate(head: bytes, edits: list[tuple[int, int, int]]) -> bytes:
    data = bytearray(head)
    for kind, position, byte in edits:
        if not data:
            break
        at = position % len(data)
        if kind == 0:
            data.insert(at, byte)
        elif kind == 1:
            del data[at]
        else:
            data[at] = byte
    return bytes(data)


edits = st.lists(
    st.tuples(
        st.integers(0, 2),
        st.integers(0, 10_000),
        st.sampled_from([0x0D, 0x0A, 0x3A, 0x20, 0x09, 0x00, 0x80, 0x7F, 0x41, 0x61, 0x2D]),
    ),
    max_size=3,
)
limits = st.tuples(st.integers(0, 40), st.integers(0, 8))


@needs_c
@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(heads(STARTS_REQUEST), edits, limits)
def test_request_scanners_agree(head: bytes, changes: list, limit: tuple[int, int]) -> None:
    head = mutate(head, changes)
    max_target, max_headers = limit
    assert _scan.scan_request(head, max_target, max_headers) == fastpath.scan_request_py(
        head, max_target, max_headers
    )


@needs_c
@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(heads(STARTS_RESPONSE), edits, st.integers(0, 8))
def test_response_scanners_agree(head: bytes, changes: list, max_headers: int) -> None:
    head = mutate(head, changes)
    assert _scan.scan_response(head, max_headers) == fastpath.scan_response_py(head, max_headers)


@needs_c
@settings(max_examples=1000, deadline=None)
@given(st.binary(max_size=80))
def test_scanners_agree_on_arbitrary_bytes(data: bytes) -> None:
    assert _scan.scan_request(data, 100, 100) == fastpath.scan_request_py(data, 100, 100)
    assert _scan.scan_response(data, 100) == fastpath.scan_response_py(data, 100)


@needs_c
def test_the_common_heads_are_scanned_alike() -> None:
    request = b"GET /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nAccept: */*\r\n\r\n"
    expected = (
        b"GET",
        b"/a",
        b"h",
        5,
        True,
        None,
        b"Host: h\r\nContent-Length: 5\r\nAccept: */*\r\n",
    )
    assert _scan.scan_request(request, 100, 100) == expected
    assert fastpath.scan_request_py(request, 100, 100) == expected
    closing = b"GET / HTTP/1.1\r\nconnection: Close\r\nX-Request-Id: r1 \r\nHost: h\r\n\r\n"
    expected = (b"GET", b"/", b"h", -1, False, b"r1", b"X-Request-Id: r1 \r\nHost: h\r\n")
    assert _scan.scan_request(closing, 100, 100) == expected
    assert fastpath.scan_request_py(closing, 100, 100) == expected
    response = b"HTTP/1.1 200 OK\r\nA: 1\r\nConnection: Keep-Alive \r\nContent-Length: 2\r\n\r\n"
    expected_response = (200, b"OK", 2, True, b"A: 1\r\nContent-Length: 2\r\n")
    assert _scan.scan_response(response, 100) == expected_response
    assert fastpath.scan_response_py(response, 100) == expected_response


def test_the_c_scanner_is_built_where_a_compiler_is() -> None:
    """An install on a machine with a C compiler must not fall back silently."""
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler here")
    if not (Path(sysconfig.get_paths()["include"]) / "Python.h").exists():
        pytest.skip("no Python headers here")
    assert importlib.util.find_spec("meshlb.protocol._scan") is not None
    assert fastpath.SCANNER == "c"
