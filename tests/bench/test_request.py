"""The prebuilt request: HTTP/1.1 bytes and the HTTP/2 header list."""

from __future__ import annotations

import pytest

from meshlb.bench.request import (
    RequestError,
    RequestSpec,
    check_method,
    h1_request_bytes,
    h2_request_headers,
    parse_header,
)
from meshlb.bench.target import parse_target

TARGET = parse_target("http://127.0.0.1:8080/hello?x=1")


def spec(
    method: str = "GET", headers: tuple[tuple[str, str], ...] = (), body: bytes = b""
) -> RequestSpec:
    return RequestSpec(method, TARGET, headers, body)


def test_a_plain_get_has_host_and_user_agent() -> None:
    assert h1_request_bytes(spec()) == (
        b"GET /hello?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: meshlb-bench\r\n\r\n"
    )


def test_user_headers_override_host_and_user_agent() -> None:
    raw = h1_request_bytes(
        spec(headers=(("host", "api.test"), ("User-Agent", "x"), ("X-Trace", "1")))
    )
    assert raw == (
        b"GET /hello?x=1 HTTP/1.1\r\nhost: api.test\r\nUser-Agent: x\r\nX-Trace: 1\r\n\r\n"
    )


def test_a_body_gets_its_content_length_and_post_without_body_gets_zero() -> None:
    assert h1_request_bytes(spec("POST", body=b"abc")).endswith(b"Content-Length: 3\r\n\r\nabc")
    assert h1_request_bytes(spec("POST")).endswith(b"Content-Length: 0\r\n\r\n")
    wrong = spec("PUT", headers=(("Content-Length", "99"),), body=b"ab")
    assert b"99" not in h1_request_bytes(wrong)


def test_h2_headers_put_pseudo_headers_first_and_drop_connection_headers() -> None:
    headers = h2_request_headers(
        spec(
            "POST",
            headers=(("Host", "api.test"), ("Connection", "keep-alive"), ("X-Trace", "1")),
            body=b"ab",
        )
    )
    assert headers == [
        (b":method", b"POST"),
        (b":scheme", b"http"),
        (b":authority", b"api.test"),
        (b":path", b"/hello?x=1"),
        (b"user-agent", b"meshlb-bench"),
        (b"x-trace", b"1"),
        (b"content-length", b"2"),
    ]


def test_parse_header_splits_on_the_first_colon() -> None:
    assert parse_header("X-Url: http://a:1/") == ("X-Url", "http://a:1/")


@pytest.mark.parametrize(
    "text", ["no colon", ": empty name", "Bad Name: x", "X: a\r\nb", "X: \u20ac"]
)
def test_parse_header_rejects_malformed_headers(text: str) -> None:
    with pytest.raises(RequestError):
        parse_header(text)


def test_methods_are_tokens_and_uppercased() -> None:
    assert check_method("head") == "HEAD"
    with pytest.raises(RequestError):
        check_method("GE T")
