"""Local resources under attack: a log reader that stops reading, silent admin connections,
and a process out of file descriptors. meshlb keeps answering through each of them, and
blames nothing on the upstream endpoints."""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from tests.e2e.backends import Backend
from tests.e2e.conftest import free_port, wait_port

REQUEST = b"GET /%s HTTP/1.1\r\nHost: t\r\n\r\n"


def read_response(sock: socket.socket, pending: bytearray) -> tuple[int, dict[str, str]]:
    """One response on a keep-alive connection (Content-Length framed): status and headers."""
    while b"\r\n\r\n" not in pending:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("connection closed before a response head")
        pending += data
    head, _, rest = bytes(pending).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("connection closed inside a response body")
        rest += data
    pending[:] = rest[length:]
    return int(lines[0].split()[1]), headers


def hammer(port: int, total: int, path: bytes, *, clients: int = 8, deadline: float) -> Counter:
    """`total` GETs over `clients` keep-alive connections; a Counter of statuses (or errors)."""
    outcomes: Counter = Counter()
    lock = threading.Lock()

    def client(count: int) -> None:
        got: Counter = Counter()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                pending = bytearray()
                for _ in range(count):
                    if time.monotonic() > deadline:
                        got["deadline"] += 1
                        break
                    sock.sendall(REQUEST % path)
                    status, _ = read_response(sock, pending)
                    got[status] += 1
        except OSError as exc:
            got[type(exc).__name__] += 1
        with lock:
            outcomes.update(got)

    shares = [total // clients + (i < total % clients) for i in range(clients)]
    threads = [threading.Thread(target=client, args=(share,)) for share in shares]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()) + 6)
    return outcomes


def admin_get(port: int, path: str, timeout: float = 2.0) -> tuple[int, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def metric(port: int, name: str, labels: str = "") -> float:
    status, body = admin_get(port, "/metrics")
    assert status == 200
    wanted = f"{name}{{{labels}}}" if labels else name
    for line in body.decode().splitlines():
        if line.startswith(wanted + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{wanted} not in /metrics")


@contextmanager
def backend() -> Iterator[Backend]:
    b = Backend("b1")
    try:
        yield b
    finally:
        b.stop()


def test_a_log_reader_that_stops_reading_costs_log_lines_not_answers(start_meshlb) -> None:
    admin = free_port()
    with backend() as b:
        # The helper gives meshlb pipes for stdout and stderr and reads neither until it stops.
        proxy = start_meshlb(
            "run",
            "--listen",
            "AUTO",
            "--upstream",
            b.address,
            "--access-log",
            "stdout",
            "--admin",
            f"127.0.0.1:{admin}",
        )
        wait_port(admin)
        total = 4000
        path = b"x" * 600  # about 1 KiB a line: 4 MB of log against a 64 KiB pipe
        outcomes = hammer(proxy.port, total, path, deadline=time.monotonic() + 60)
        assert outcomes == Counter({200: total})
        assert admin_get(admin, "/healthz") == (200, b"ok\n")
        dropped = metric(admin, "meshlb_log_lines_dropped_total", 'log="access"')
        assert dropped > 0
        assert dropped < total


def test_meshlb_s_own_log_on_a_stalled_stderr_does_not_stop_the_proxy(start_meshlb) -> None:
    admin = free_port()
    with backend() as b:
        proxy = start_meshlb(
            "--log-level",
            "debug",  # a line for every rejected request
            "run",
            "--listen",
            "AUTO",
            "--upstream",
            b.address,
            "--admin",
            f"127.0.0.1:{admin}",
        )
        wait_port(admin)
        deadline = time.monotonic() + 60
        rejected = 0
        for _ in range(2000):  # about 200 KB of log against a 64 KiB pipe nobody reads
            assert time.monotonic() < deadline
            with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock:
                sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nBad Header: x\r\n\r\n")
                status, _ = read_response(sock, bytearray())
                rejected += status == 400
        assert rejected == 2000
        assert admin_get(admin, "/healthz") == (200, b"ok\n")
        sent = hammer(proxy.port, 100, b"ok", deadline=time.monotonic() + 10)
        assert sent == Counter({200: 100})
