"""Reading one admin request: parsed fields, and refusals of what does not belong."""

from __future__ import annotations

import asyncio

import pytest

from meshlb.admin.http import (
    MAX_BODY_BYTES,
    MAX_HEAD_BYTES,
    BadRequest,
    Request,
    Response,
    read_request,
)


def read(*chunks: bytes, eof: bool = True) -> Request:
    async def go() -> Request:
        reader = asyncio.StreamReader()
        for chunk in chunks:
            reader.feed_data(chunk)
        if eof:
            reader.feed_eof()
        return await read_request(reader)

    return asyncio.run(go())


def refused(*chunks: bytes) -> BadRequest:
    with pytest.raises(BadRequest) as info:
        read(*chunks)
    return info.value


def test_a_request_is_parsed_across_chunks() -> None:
    request = read(
        b"POST /clusters/web/endpoints/%5B%3A%3A1%5D%3A80/drain?x=1 HTTP/1.1\r\nHo",
        b"st: 127.0.0.1:9901\r\nAuthorization: Bearer t\r\nContent-Length: 2\r\n\r\n{}",
    )
    assert request.method == "POST"
    assert request.query == "x=1"
    assert request.headers["authorization"] == "Bearer t"
    assert request.body == b"{}"
    assert request.segments() == ["clusters", "web", "endpoints", "[::1]:80", "drain"]


def test_an_encoded_slash_stays_inside_its_segment() -> None:
    request = read(b"GET /a%2Fb/c HTTP/1.1\r\nHost: x\r\n\r\n")
    assert request.segments() == ["a/b", "c"]


def test_nothing_after_the_request_is_read() -> None:
    request = read(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", eof=False)
    assert request.path == "/healthz"


@pytest.mark.parametrize(
    "raw",
    [
        b"NOT HTTP AT ALL\r\n\r\n",
        b"GET /x HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        b"GET http://evil.example/ HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET * HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\n",  # the connection ends inside the head
    ],
)
def test_malformed_requests_are_bad_requests(raw: bytes) -> None:
    assert refused(raw).status == 400


def test_an_oversized_head_is_refused_with_431() -> None:
    raw = b"GET / HTTP/1.1\r\nX-Big: " + b"a" * MAX_HEAD_BYTES + b"\r\n\r\n"
    assert refused(raw).status == 431


def test_an_oversized_body_is_refused_with_413() -> None:
    size = MAX_BODY_BYTES + 1
    raw = b"POST /reload HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % size
    assert refused(raw, b"x" * size).status == 413


def test_a_response_names_its_length_and_closes() -> None:
    response = Response(404, b'{"error": "no"}', "application/json", [("Allow", "GET")])
    wire = response.encode()
    head, _, body = wire.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0] == b"HTTP/1.1 404 Not Found"
    assert b"Content-Length: 15" in head and b"Connection: close" in head
    assert b"Allow: GET" in head and body == b'{"error": "no"}'
    assert response.encode(head_only=True) == head + b"\r\n\r\n"


def test_only_the_first_of_pipelined_requests_is_read() -> None:
    request = read(
        b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: y\r\n\r\nJUNK\r\n\r\n"
    )
    assert (request.path, request.headers["host"]) == ("/a", "x")
