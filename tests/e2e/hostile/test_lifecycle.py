"""Lifecycle: a TCP client that is quicker than the upstream connect, one that pushes more
than anyone reads, and reloads and worker deaths in a group of workers.

TCP upstreams here are plain sockets driven by threads. `ReplyAtEof` reads a connection to
its end and only then answers (how many bytes came and their digest) and closes, as
request/response protocols over a half-closed connection do. With `held=True` its accept
queue is full (a backlog of 0 and one filler connection), so meshlb's connect waits for SYN
retransmissions until the test calls `release()`.
"""

from __future__ import annotations

import hashlib
import select
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import free_port


def digest_line(data: bytes) -> bytes:
    return b"%d %s\n" % (len(data), hashlib.sha256(data).hexdigest().encode())


class ReplyAtEof:
    def __init__(self, *, held: bool = False) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(0 if held else 64)
        self.filler: socket.socket | None = None
        self.released = threading.Event()
        self.accepted = 0
        if held:
            self.filler = socket.create_connection(self.listener.getsockname(), timeout=5)
        else:
            self.released.set()
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.listener.getsockname()[1]}"

    def release(self) -> None:
        self.released.set()

    def _serve(self) -> None:
        self.released.wait()
        try:
            if self.filler is not None:
                self.listener.accept()[0].close()
            while True:
                conn, _ = self.listener.accept()
                self.accepted += 1
                threading.Thread(target=self._answer, args=(conn,), daemon=True).start()
        except OSError:
            return  # closed by the test

    @staticmethod
    def _answer(conn: socket.socket) -> None:
        with conn:
            data = bytearray()
            while chunk := conn.recv(1 << 16):
                data += chunk
            conn.sendall(digest_line(bytes(data)))

    def close(self) -> None:
        self.listener.close()
        if self.filler is not None:
            self.filler.close()


class NeverReads:
    """Accepts connections and never reads from them."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.held: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.listener.getsockname()[1]}"

    def _serve(self) -> None:
        try:
            while True:
                self.held.append(self.listener.accept()[0])
        except OSError:
            return

    def close(self) -> None:
        self.listener.close()
        for conn in self.held:
            conn.close()


def tcp_config(path: Path, port: int, upstream: str) -> Path:
    path.write_text(
        f"""
[[listeners]]
address = "127.0.0.1:{port}"
protocol = "tcp"
cluster = "db"
[clusters.db]
endpoints = ["{upstream}"]
connect_timeout = "30s"
[admin]
enabled = false
"""
    )
    return path


def read_to_eof(sock: socket.socket) -> bytes:
    out = bytearray()
    while chunk := sock.recv(1 << 16):
        out += chunk
    return bytes(out)


@pytest.fixture
def replier() -> Iterator[ReplyAtEof]:
    upstream = ReplyAtEof()
    yield upstream
    upstream.close()


def test_tcp_a_client_that_sends_and_half_closes_at_once_gets_its_answer(
    start_meshlb, replier: ReplyAtEof, tmp_path: Path
) -> None:
    port = free_port()
    start_meshlb(
        "run", "-c", str(tcp_config(tmp_path / "m.toml", port, replier.address)), port=port
    )
    for i in range(8):
        message = b"query %d\n" % i
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(message)
            s.shutdown(socket.SHUT_WR)
            assert read_to_eof(s) == digest_line(message), f"try {i}"


def test_tcp_bytes_and_eof_sent_while_the_upstream_connect_waits_all_arrive(
    start_meshlb, tmp_path: Path
) -> None:
    upstream = ReplyAtEof(held=True)
    port = free_port()
    start_meshlb(
        "run", "-c", str(tcp_config(tmp_path / "m.toml", port, upstream.address)), port=port
    )
    payload = hashlib.sha256(b"seed").digest() * 32768  # 1 MiB: more than meshlb buffers
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
            sender = threading.Thread(
                target=lambda: (s.sendall(payload), s.shutdown(socket.SHUT_WR)), daemon=True
            )
            sender.start()
            time.sleep(0.3)  # the connect is still waiting: the accept queue is full
            assert upstream.accepted == 0
            upstream.release()
            assert read_to_eof(s) == digest_line(payload)
            sender.join(5)
    finally:
        upstream.close()


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def push_until_blocked(sock: socket.socket, cap: int, stall: float = 1.0) -> int:
    """Send until nothing more goes out for `stall` seconds (or `cap` bytes went)."""
    chunk = b"x" * (1 << 16)
    sock.setblocking(False)
    sent = 0
    while sent < cap:
        _, writable, _ = select.select([], [sock], [], stall)
        if not writable:
            break
        try:
            sent += sock.send(chunk)
        except BlockingIOError:
            continue
    return sent


CAP = 256 * 1024 * 1024


@pytest.mark.parametrize("phase", ["connecting", "upstream-not-reading"])
def test_tcp_a_client_pushing_more_than_the_upstream_takes_is_paused(
    start_meshlb, tmp_path: Path, phase: str
) -> None:
    upstream: ReplyAtEof | NeverReads = (
        ReplyAtEof(held=True) if phase == "connecting" else NeverReads()
    )
    port = free_port()
    m = start_meshlb(
        "run", "-c", str(tcp_config(tmp_path / "m.toml", port, upstream.address)), port=port
    )
    try:
        before = rss_bytes(m.proc.pid)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            sent = push_until_blocked(s, CAP)
            grown = rss_bytes(m.proc.pid) - before
        # Kernel socket buffers take a few megabytes; meshlb itself holds about 256 KiB.
        assert sent < 32 * 1024 * 1024, sent
        assert grown < 32 * 1024 * 1024, grown
    finally:
        upstream.close()
