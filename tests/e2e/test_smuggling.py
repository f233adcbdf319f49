"""The smuggling battery end to end: meshlb between raw sockets and a backend that records bytes.

For every malformed request of tests/protocol/battery.py, with each codec: the client gets the
expected 4xx status line, the connection is closed, and the backend has received nothing at
all. Valid requests, some of them framed in the odd ways the RFC allows, must reach the
backend re-framed: one framing field, in lower-case canonical form, no chunk extensions, no
trailers, no hop-by-hop fields.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httptools
import pytest

from tests.e2e.conftest import Meshlb, free_port
from tests.protocol.battery import LIMITS, Bad, malformed, valid

MALFORMED = malformed(LIMITS)
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


@dataclass
class Forwarded:
    """One request as the backend parsed it."""

    method: bytes
    target: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes = b""
    chunked_body: bool = False

    def values(self, name: bytes) -> list[bytes]:
        return [v for k, v in self.headers if k.lower() == name]


@dataclass
class _Connection:
    backend: RecordingBackend
    current: Forwarded | None = None
    url: bytes = b""
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.current = Forwarded(b"", self.url, self.headers)

    def on_body(self, body: bytes) -> None:
        assert self.current is not None
        self.current.body += body

    def on_chunk_header(self) -> None:
        if self.current is not None:
            self.current.chunked_body = True

    def on_message_complete(self) -> None:
        assert self.current is not None
        self.backend.requests.append(self.current)
        self.current, self.url, self.headers = None, b"", []


class RecordingBackend:
    """Accepts on 127.0.0.1, keeps every byte it receives, answers each request with 200."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.received = bytearray()
        self.requests: list[Forwarded] = []
        self.lock = threading.Lock()
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.sockets.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        state = _Connection(self)
        parser = httptools.HttpRequestParser(state)
        with conn:
            while True:
                try:
                    data = conn.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                with self.lock:
                    self.received += data
                    before = len(self.requests)
                    try:
                        parser.feed_data(data)
                    except httptools.HttpParserError:
                        return
                    answers = len(self.requests) - before
                    for request in self.requests[before:]:
                        request.method = parser.get_method()
                conn.sendall(OK * answers)

    def take(self) -> tuple[bytes, list[Forwarded]]:
        with self.lock:
            received, requests = bytes(self.received), list(self.requests)
            self.received.clear()
            self.requests.clear()
        return received, requests

    def stop(self) -> None:
        self.listener.close()
        for conn in self.sockets:
            conn.close()


def _config(path: Path, port: int, codec: str, backend: RecordingBackend) -> Path:
    path.write_text(
        f"""
drain_timeout = "100ms"  # a hung exchange must not hold up the teardown

[[listeners]]
address = "127.0.0.1:{port}"
codec = "{codec}"
max_header_bytes = {LIMITS.max_header_bytes}
max_headers = {LIMITS.max_headers}
max_target_bytes = {LIMITS.max_target_bytes}
max_body_bytes = {LIMITS.max_body_bytes}
header_timeout = "5s"

[clusters.recorder]
endpoints = ["{backend.address}"]
"""
    )
    return path


@pytest.fixture(scope="module", params=["llhttp", "h11"])
def setup(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Meshlb, RecordingBackend]]:
    backend = RecordingBackend()
    port = free_port()
    config = _config(tmp_path_factory.mktemp("smuggling") / "m.toml", port, request.param, backend)
    proxy = Meshlb(["run", "-c", str(config), "--admin", "off"], port)
    try:
        yield proxy, backend
    finally:
        proxy.stop()
        backend.stop()


def exchange(port: int, data: bytes, timeout: float = 3.0) -> tuple[bytes, bool]:
    """Send `data` and read until the proxy closes; (reply, closed by the proxy)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        # The proxy may answer and close before taking all of a large request.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(data)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except ConnectionResetError:
            return b"".join(chunks), True  # closed with unread input: still closed
        except TimeoutError:
            return b"".join(chunks), False
        return b"".join(chunks), True


# Cases whose head is valid and whose body is not: the head has been parsed by the time the
# codec sees the fault (see tests/protocol/test_battery.py).
BODY_STAGE = [case for case in MALFORMED if case.name.startswith(("chunk", "trailer"))]
HEAD_STAGE = [case for case in MALFORMED if case not in BODY_STAGE]


@pytest.mark.parametrize("case", HEAD_STAGE, ids=lambda case: case.name)
def test_malformed_request_never_reaches_the_backend(
    setup: tuple[Meshlb, RecordingBackend], case: Bad
) -> None:
    proxy, backend = setup
    backend.take()
    reply, closed = exchange(proxy.port, case.raw)
    time.sleep(0.02)  # anything forwarded would have arrived by now
    received, _ = backend.take()
    assert reply.startswith(b"HTTP/1.1 %d " % case.status), reply[:200]
    assert closed, "the connection must be closed after a malformed request"
    assert received == b"", f"backend received {received[:300]!r}"


def test_malformed_body_never_reaches_the_backend(setup: tuple[Meshlb, RecordingBackend]) -> None:
    # All at once, each on its own connection: a session that hangs costs one timeout, not 23.
    proxy, backend = setup
    # With an idle pooled upstream connection, as in production: a session that writes a head
    # upstream as soon as it is parsed would leak it before the body's fault is seen.
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock:
        sock.sendall(b"GET /warm HTTP/1.1\r\nHost: a\r\n\r\n")
        assert sock.recv(1000).startswith(b"HTTP/1.1 200 ")
    time.sleep(0.05)
    backend.take()
    results: dict[str, tuple[bytes, bool]] = {}

    def run(case: Bad) -> None:
        results[case.name] = exchange(proxy.port, case.raw, timeout=1.0)

    threads = [threading.Thread(target=run, args=(case,)) for case in BODY_STAGE]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    time.sleep(0.05)
    received, _ = backend.take()
    wrong = {
        case.name: results[case.name][0][:40]
        for case in BODY_STAGE
        if not results[case.name][0].startswith(b"HTTP/1.1 %d " % case.status)
        or not results[case.name][1]
    }
    assert not wrong, f"not answered and closed: {wrong}"
    assert received == b"", f"backend received {len(received)} bytes"


VALID = {case.name: case for case in valid(LIMITS)}


def _framing_is_canonical(request: Forwarded) -> None:
    te = request.values(b"transfer-encoding")
    cl = request.values(b"content-length")
    assert not (te and cl), "both framing fields reached the backend"
    assert len(te) <= 1 and len(cl) <= 1
    assert te in ([], [b"chunked"])
    if cl:
        assert cl[0] == b"%d" % int(cl[0]), "Content-Length not in canonical form"
    for name in (b"connection", b"keep-alive", b"te", b"trailer", b"upgrade", b"proxy-connection"):
        assert not request.values(name) or name == b"connection", name


@pytest.mark.parametrize(
    "name",
    [
        "te_capitalized",
        "te_upper_case",
        "te_leading_ows",
        "chunk_extensions",
        "chunk_trailers_dropped",
        "content_length_leading_zeros",
        "content_length_ows",
        "pipelined",
        "large_allowed_body",
        "absolute_form_same_host",
        "leading_empty_lines",
    ],
)
def test_valid_requests_are_forwarded_re_framed(
    setup: tuple[Meshlb, RecordingBackend], name: str
) -> None:
    proxy, backend = setup
    case = VALID[name]
    backend.take()
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock:
        sock.sendall(case.raw)
        reply = b""
        while reply.count(b"HTTP/1.1 200 ") < len(case.requests):
            chunk = sock.recv(65536)
            assert chunk, reply
            reply += chunk
    received, forwarded = backend.take()
    assert [(r.target, r.body) for r in forwarded] == [(e[1], e[3]) for e in case.requests]
    for request in forwarded:
        _framing_is_canonical(request)
    assert b";a=b" not in received and b"X-Sum" not in received, "chunk metadata forwarded"
