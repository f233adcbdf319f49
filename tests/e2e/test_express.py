"""Whole common messages (the take_whole path) end to end, against a scripted raw backend.

Most traffic is one bodiless request per read and one Content-Length response per read;
those skip the reader and go out verbatim. These tests pin what a client and a backend see
on that path, and that anything unusual still takes the general one.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import Meshlb
from tests.e2e.wire import read_response

RESPONSES = {
    b"/keep": b"HTTP/1.1 200 OK\r\nServer: Scripted\r\nX-Mixed-Case: Yes \r\n"
    b"Content-Length: 2\r\nConnection: keep-alive\r\n\r\nok",
    b"/close": b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nbye",
    b"/busy": b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Length: 4\r\n\r\nbusy",
    b"/odd-reason": b"HTTP/1.1 200 Fine Thanks\r\nContent-Length: 0\r\n\r\n",
}


class ScriptedBackend:
    """Answers each request with RESPONSES[path]; records every byte and connection."""

    def __init__(self) -> None:
        self.received = bytearray()
        self.connections = 0
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        threading.Thread(target=self._run, args=(ready,), daemon=True).start()
        ready.wait(5)

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        ready.set()
        self.loop.run_forever()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.received += head
                path = head.split(b" ", 2)[1]
                response = RESPONSES[path]
                writer.write(response)
                await writer.drain()
                if b"Connection: close" in response:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)


@pytest.fixture
def scripted() -> Iterator[ScriptedBackend]:
    backend = ScriptedBackend()
    yield backend
    backend.stop()


@pytest.fixture
def front(start_meshlb, scripted: ScriptedBackend) -> Meshlb:
    proxy: Meshlb = start_meshlb(
        "run", "--listen", "AUTO", "--upstream", f"127.0.0.1:{scripted.port}"
    )
    return proxy


def test_responses_go_out_as_received_less_their_connection_line(
    front: Meshlb, scripted: ScriptedBackend
) -> None:
    with socket.create_connection(("127.0.0.1", front.port), timeout=5) as sock:
        for _ in range(3):
            sock.sendall(b"GET /keep HTTP/1.1\r\nHost: example.test\r\n\r\n")
            response = read_response(sock)
            assert response.startswith(b"HTTP/1.1 200 OK\r\n")
            # Field names keep their case, values their bytes; Connection is hop-by-hop.
            assert b"\r\nServer: Scripted\r\nX-Mixed-Case: Yes \r\n" in response
            assert b"onnection" not in response
            assert response.endswith(b"\r\n\r\nok")
    assert scripted.connections == 1  # the upstream connection was kept and reused


def test_requests_go_out_as_received_plus_forwarding_fields(
    front: Meshlb, scripted: ScriptedBackend
) -> None:
    with socket.create_connection(("127.0.0.1", front.port), timeout=5) as sock:
        sock.sendall(b"GET /keep HTTP/1.1\r\nHost: example.test\r\nX-Client-Case: Kept\r\n\r\n")
        read_response(sock)
    seen = bytes(scripted.received)
    assert seen.startswith(b"GET /keep HTTP/1.1\r\nHost: example.test\r\nX-Client-Case: Kept\r\n")
    for added in (b"x-forwarded-for: 127.0.0.1\r\n", b"x-forwarded-host: example.test\r\n"):
        assert added in seen
    assert b"x-request-id: " in seen


def test_an_upstream_close_does_not_close_the_client(
    front: Meshlb, scripted: ScriptedBackend
) -> None:
    with socket.create_connection(("127.0.0.1", front.port), timeout=5) as sock:
        for _ in range(2):
            sock.sendall(b"GET /close HTTP/1.1\r\nHost: x\r\n\r\n")
            response = read_response(sock)
            assert response.endswith(b"bye")
            assert b"onnection" not in response
    assert scripted.connections == 2  # a closed upstream connection is not reused


def test_a_retry_after_reaches_the_client(front: Meshlb) -> None:
    with socket.create_connection(("127.0.0.1", front.port), timeout=5) as sock:
        sock.sendall(b"GET /busy HTTP/1.1\r\nHost: x\r\n\r\n")
        response = read_response(sock)
    assert response.startswith(b"HTTP/1.1 429 Too Many Requests\r\n")
    assert b"\r\nRetry-After: 1\r\n" in response


def test_a_reason_phrase_is_kept(front: Meshlb) -> None:
    with socket.create_connection(("127.0.0.1", front.port), timeout=5) as sock:
        sock.sendall(b"GET /odd-reason HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(sock).startswith(b"HTTP/1.1 200 Fine Thanks\r\n")


def test_an_http10_client_is_answered_and_closed(front: Meshlb) -> None:
    with socket.create_connection(("127.0.0.1", front.port), timeout=5) as sock:
        sock.sendall(b"GET /keep HTTP/1.0\r\nHost: x\r\n\r\n")
        response = read_response(sock)
        assert response.startswith(b"HTTP/1.1 200 OK\r\n")
        assert b"\r\nconnection: close\r\n" in response
        assert sock.recv(100) == b""  # closed after the response


def test_a_clients_connection_line_stays_and_its_request_id_is_kept(
    front: Meshlb, scripted: ScriptedBackend
) -> None:
    with socket.create_connection(("127.0.0.1", front.port), timeout=5) as sock:
        sock.sendall(
            b"GET /keep HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\nX-Request-Id: r-1\r\n\r\n"
        )
        read_response(sock)
        sock.sendall(b"GET /keep HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert b"\r\nconnection: close\r\n" in read_response(sock)
        assert sock.recv(100) == b""  # the client asked to close
    seen = bytes(scripted.received)
    assert seen.startswith(b"GET /keep HTTP/1.1\r\nHost: x\r\nX-Request-Id: r-1\r\n")
    assert b"onnection" not in seen  # hop-by-hop: not forwarded
    assert seen.count(b"-Id: ") + seen.count(b"-id: ") == 2  # r-1, then one meshlb made
