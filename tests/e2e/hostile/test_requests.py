"""Hostile requests: a client that lies about where it came from, offers protocols the
listener does not serve, or frames chunks with bare LFs. Each runs through a real meshlb,
with both codecs, in front of a backend that reports what it received."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.backends import Backend
from tests.e2e.conftest import Meshlb, free_port

Start = Callable[[str], Meshlb]


@pytest.fixture
def backend() -> Iterator[Backend]:
    started = Backend("b1")
    yield started
    started.stop()


@pytest.fixture
def start(start_meshlb, tmp_path: Path, codec: str, backend: Backend) -> Start:
    """meshlb with one listener (`listener`: extra keys for it) in front of `backend`."""

    def run(listener: str = "") -> Meshlb:
        port = free_port()
        config = tmp_path / f"m{port}.toml"
        config.write_text(
            f"""
[[listeners]]
address = "127.0.0.1:{port}"
codec = "{codec}"
{listener}

[clusters.app]
endpoints = ["{backend.address}"]
"""
        )
        return start_meshlb("run", "-c", str(config), "--admin", "off", port=port)

    return run


def read_response(sock: socket.socket, pending: bytearray) -> tuple[bytes, bytes]:
    """One Content-Length framed response: (head, body)."""
    while b"\r\n\r\n" not in pending:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError(f"closed before a response head: {bytes(pending)!r}")
        pending += data
    head, _, rest = bytes(pending).partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("closed inside a response body")
        rest += data
    pending[:] = rest[length:]
    return head, rest[:length]


def exchange(port: int, data: bytes, responses: int = 1) -> list[tuple[bytes, bytes]]:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(data)
        pending = bytearray()
        return [read_response(sock, pending) for _ in range(responses)]


def forwarded_fields(port: int, *lines: bytes) -> dict[str, list[str]]:
    """The fields the backend received for a GET carrying `lines`, by lower-case name."""
    request = b"GET /headers HTTP/1.1\r\nHost: app.test\r\n" + b"".join(
        line + b"\r\n" for line in lines
    )
    ((head, body),) = exchange(port, request + b"\r\n")
    assert head.startswith(b"HTTP/1.1 200 "), head
    fields: dict[str, list[str]] = {}
    for name, value in json.loads(body)["headers"]:
        fields.setdefault(name.lower(), []).append(value)
    return fields


# -- who the request came from --------------------------------------------------------------

LIES = [
    b"X-Forwarded-For: 203.0.113.9",
    b"X-Real-IP: 203.0.113.9",
    b"x-real-ip: 203.0.113.9",
    b"Forwarded: for=203.0.113.9;proto=https",
    b"X-Forwarded-Host: bank.example",
    b"X-Forwarded-Proto: https",
    b"X-Forwarded-Port: 443",
]


@pytest.mark.parametrize(
    "lies",
    [LIES] + [[lie] for lie in LIES],
    ids=["all"] + [lie.partition(b":")[0].decode() for lie in LIES],
)
def test_an_untrusted_client_cannot_say_where_it_came_from(start: Start, lies: list[bytes]) -> None:
    # Trusting other peers changes nothing for this one (127.0.0.1).
    proxy = start('trusted_proxies = ["10.0.0.0/8", "::1"]')
    seen = forwarded_fields(proxy.port, b"Accept: */*", *lies)
    assert seen["x-forwarded-for"] == ["127.0.0.1"]
    assert seen["x-real-ip"] == ["127.0.0.1"]
    assert seen["x-forwarded-host"] == ["app.test"]
    assert seen["x-forwarded-proto"] == ["http"]
    assert "forwarded" not in seen and "x-forwarded-port" not in seen
    assert seen["accept"] == ["*/*"]


def test_a_trusted_proxy_keeps_its_chain_and_meshlb_extends_it(start: Start) -> None:
    proxy = start('trusted_proxies = ["127.0.0.0/8"]')
    seen = forwarded_fields(
        proxy.port,
        b"X-Forwarded-For: 203.0.113.9, 198.51.100.7",
        b"X-Real-IP: 203.0.113.9",
        b"X-Forwarded-Host: shop.example",
        b"X-Forwarded-Proto: https",
        b"X-Forwarded-Port: 443",
        b"Forwarded: for=203.0.113.9;proto=https",
    )
    assert seen["x-forwarded-for"] == ["203.0.113.9, 198.51.100.7, 127.0.0.1"]
    assert seen["x-real-ip"] == ["203.0.113.9"]
    assert seen["x-forwarded-host"] == ["shop.example"]
    assert seen["x-forwarded-proto"] == ["https"]
    assert seen["x-forwarded-port"] == ["443"]
    assert seen["forwarded"] == ["for=203.0.113.9;proto=https", "for=127.0.0.1"]
    # A trusted peer that says nothing gets what any peer gets.
    plain = forwarded_fields(proxy.port)
    assert plain["x-forwarded-for"] == plain["x-real-ip"] == ["127.0.0.1"]
    assert plain["x-forwarded-host"] == ["app.test"] and plain["x-forwarded-proto"] == ["http"]


# -- upgrades ---------------------------------------------------------------------------------

H2C = (
    b"GET /upgrade HTTP/1.1\r\nHost: app.test\r\nConnection: Upgrade, HTTP2-Settings\r\n"
    b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n"
)
SECOND = b"GET /headers HTTP/1.1\r\nHost: app.test\r\n\r\n"


def test_an_upgrade_to_an_unlisted_protocol_goes_on_as_plain_http(
    start: Start, backend: Backend
) -> None:
    # The backend would switch to any protocol it is offered: it is offered none.
    proxy = start()
    (first, _), (second, body) = exchange(proxy.port, H2C + SECOND, responses=2)
    assert first.startswith(b"HTTP/1.1 200 ") and second.startswith(b"HTTP/1.1 200 ")
    offered = {name.lower() for name, _ in backend.requests[0].headers}
    assert not offered & {"upgrade", "connection", "http2-settings"}
    assert json.loads(body)["path"] == "/headers"  # the next request was HTTP/1.1 again


def test_an_ignored_upgrade_may_carry_a_body(start: Start, backend: Backend) -> None:
    proxy = start()
    request = H2C.replace(b"GET /upgrade", b"POST /echo").replace(
        b"\r\n\r\n", b"\r\nContent-Length: 5\r\n\r\nhello"
    )
    ((head, body),) = exchange(proxy.port, request)
    assert head.startswith(b"HTTP/1.1 200 ") and body == b"hello"


def test_a_listed_protocol_switches(start: Start) -> None:
    proxy = start('upgrade = ["websocket", "echo"]')
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock:
        sock.sendall(
            b"GET /upgrade HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: Echo\r\n\r\n"
        )
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(4096)
        assert head.startswith(b"HTTP/1.1 101 ")
        sock.sendall(b"hello")
        got = head.partition(b"\r\n\r\n")[2]
        while len(got) < 5:
            got += sock.recv(4096)
        assert got == b"HELLO"


def test_with_no_protocol_listed_even_websocket_is_plain_http(start: Start) -> None:
    proxy = start("upgrade = []")
    ((head, _),) = exchange(
        proxy.port,
        b"GET /upgrade HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
    )
    assert head.startswith(b"HTTP/1.1 200 ")


# -- chunked framing --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b"5\nhello\n0\n\n", b"5\r\nhello\r\n0\n\n", b"5\r\nhello\r\n0\r\nX: a\n\n"],
    ids=["size_line", "last_chunk", "trailer"],
)
def test_a_chunk_line_ending_in_a_bare_lf_is_answered_at_once(
    start: Start, backend: Backend, body: bytes
) -> None:
    proxy = start()
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
        reply = b""
        while chunk := sock.recv(4096):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 400 "), reply
    assert time.monotonic() - started < 2  # not after the 10 s header timeout
    assert not backend.requests
