"""Layer-4 proxying with real sockets: bytes both ways, half-close, dead endpoints skipped."""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import free_port


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        name = self.server.name  # type: ignore[attr-defined]
        self.request.sendall(f"220 {name} ready\r\n".encode())
        while True:
            data = self.request.recv(65536)
            if not data:
                break
            self.request.sendall(data.upper())
        self.request.shutdown(socket.SHUT_WR)


class EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, name: str) -> None:
        super().__init__(("127.0.0.1", 0), _Echo)
        self.name = name
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def echo_servers() -> Iterator[list[EchoServer]]:
    servers = [EchoServer("db-1"), EchoServer("db-2")]
    yield servers
    for s in servers:
        s.shutdown()
        s.server_close()


def recv_line(s: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = s.recv(1)
        if not chunk:
            break
        data += chunk
    return data


def test_tcp_listener_pipes_bytes_and_skips_a_dead_endpoint(
    start_meshlb, echo_servers: list[EchoServer], tmp_path: Path
) -> None:
    port = free_port()
    dead = free_port()
    cfg = tmp_path / "tcp.toml"
    cfg.write_text(
        f"""
[[listeners]]
name = "db"
address = "127.0.0.1:{port}"
protocol = "tcp"
cluster = "db"
[clusters.db]
balancer = "least_connections"
endpoints = ["127.0.0.1:{dead}", "{echo_servers[0].address}", "{echo_servers[1].address}"]
connect_timeout = "1s"
"""
    )
    start_meshlb("run", "-c", str(cfg), port=port)
    banners = set()
    held = []
    for _ in range(4):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        banners.add(recv_line(s))
        s.sendall(b"select 1;\r\n")
        assert recv_line(s) == b"SELECT 1;\r\n"
        held.append(s)  # keep them open so least_connections spreads them
    assert banners == {b"220 db-1 ready\r\n", b"220 db-2 ready\r\n"}
    # half-close: the client's EOF reaches the server, whose EOF comes back
    s = held[0]
    s.shutdown(socket.SHUT_WR)
    assert s.recv(100) == b""
    for s in held:
        s.close()


def test_big_transfers_keep_every_byte(
    start_meshlb, echo_servers: list[EchoServer], tmp_path: Path
) -> None:
    port = free_port()
    cfg = tmp_path / "tcp.toml"
    cfg.write_text(
        f"""
[[listeners]]
address = "127.0.0.1:{port}"
protocol = "tcp"
cluster = "db"
[clusters.db]
endpoints = ["{echo_servers[0].address}"]
"""
    )
    start_meshlb("run", "-c", str(cfg), port=port)
    payload = bytes(range(97, 123)) * 200_000  # ~5 MB
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        recv_line(s)
        sender = threading.Thread(target=lambda: (s.sendall(payload), s.shutdown(socket.SHUT_WR)))
        sender.start()
        got = bytearray()
        while True:
            chunk = s.recv(1 << 16)
            if not chunk:
                break
            got += chunk
        sender.join()
    assert bytes(got) == payload.upper()
