"""Local resources under attack: a log reader that stops reading, silent admin connections,
and a process out of file descriptors. meshlb keeps answering through each of them, and
blames nothing on the upstream endpoints."""

from __future__ import annotations

import asyncio
import json
import os
import resource
import selectors
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from meshlb.admin import server as admin_server
from meshlb.admin.server import AdminServer
from meshlb.config.schema import AdminConfig
from tests.admin.fakes import FakeControl
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


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def answers(socks: list[socket.socket], deadline: float) -> list[tuple[int, dict[str, str]] | str]:
    """Send a GET on every connection and read what each says before `deadline`: a response,
    "closed" (EOF or reset) or "silent"."""
    results: list[tuple[int, dict[str, str]] | str] = ["silent"] * len(socks)
    pending = {i: bytearray() for i in range(len(socks))}
    with selectors.DefaultSelector() as sel:
        for i, sock in enumerate(socks):
            try:
                sock.sendall(REQUEST % b"local")
            except OSError:  # already reset by the proxy
                results[i] = "closed"
                del pending[i]
                continue
            sock.setblocking(False)
            sel.register(sock, selectors.EVENT_READ, i)
        while pending and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=max(0.0, deadline - time.monotonic())):
                i = key.data
                try:
                    data = socks[i].recv(65536)
                except OSError:
                    data = b""
                if not data:
                    results[i] = "closed"
                else:
                    pending[i] += data
                    if b"\r\n\r\n" not in pending[i]:
                        continue
                    socks[i].setblocking(True)
                    socks[i].settimeout(2)
                    results[i] = read_response(socks[i], pending[i])
                sel.unregister(socks[i])
                del pending[i]
    return results


def queued_client(port: int, deadline: float) -> socket.socket:
    """A connection that meshlb leaves in the listen backlog instead of accepting and
    dropping it: retried until one is not closed within 0.3 s."""
    while time.monotonic() < deadline:
        sock = socket.create_connection(("127.0.0.1", port), timeout=0.3)
        sock.sendall(REQUEST % b"queued")
        try:
            if sock.recv(1) == b"":
                sock.close()
                continue
        except TimeoutError:
            sock.settimeout(5)
            return sock
        except OSError:
            sock.close()
            continue
        raise AssertionError("meshlb answered while out of descriptors")
    raise AssertionError("every connection was accepted and dropped: accepting never paused")


def test_out_of_descriptors_answers_503_local_and_ejects_no_endpoint(start_meshlb) -> None:
    admin = free_port()
    with backend() as b1, backend() as b2:
        proxy = start_meshlb(
            "run",
            "--listen",
            "AUTO",
            "--upstream",
            b1.address,
            "--upstream",
            b2.address,
            "--admin",
            f"127.0.0.1:{admin}",
        )
        wait_port(admin)
        pid = proxy.proc.pid
        limit = open_fds(pid) + 30
        _, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (limit, hard))
        held = [socket.create_connection(("127.0.0.1", proxy.port)) for _ in range(40)]
        try:
            deadline = time.monotonic() + 5
            while open_fds(pid) < limit:
                assert time.monotonic() < deadline, "meshlb never ran out of descriptors"
                time.sleep(0.01)
            late = queued_client(proxy.port, time.monotonic() + 5)
            said = answers(held, time.monotonic() + 3)
        finally:
            for sock in held:
                sock.close()
        # A request that finds a pooled connection or a descriptor just freed is served; every
        # other one is a 503 that names the cause, never a 502 or "no upstream endpoint".
        responses = [r for r in said if isinstance(r, tuple)]
        seen = Counter((status, headers.get("x-meshlb-reason")) for status, headers in responses)
        assert set(seen) <= {(200, None), (503, "local_resource")}, said
        assert seen[(503, "local_resource")] >= 10, said
        # The client that waited in the backlog is served once descriptors are free again.
        assert read_response(late, bytearray())[0] == 200
        late.close()
        assert hammer(proxy.port, 20, b"after", deadline=time.monotonic() + 5) == Counter({200: 20})
        status, body = admin_get(admin, "/clusters")
        endpoints = json.loads(body)["clusters"][0]["endpoints"]
        assert [(e["healthy"], e["ejected"], e["ejection_count"]) for e in endpoints] == [
            (True, False, 0),
            (True, False, 0),
        ]
        failures = metric(admin, "meshlb_local_failures_total", 'reason="LOCAL_RESOURCE"')
        assert failures == seen[(503, "local_resource")]


def silent_connections(port: int, count: int) -> list[socket.socket]:
    """Connections that connect and then say nothing."""
    return [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(count)]


def test_silent_peers_cannot_lock_the_admin_api_out(start_meshlb) -> None:
    admin = free_port()
    with backend() as b:
        start_meshlb(
            "run", "--listen", "AUTO", "--upstream", b.address, "--admin", f"127.0.0.1:{admin}"
        )
        wait_port(admin)
        silent = silent_connections(admin, 200)
        try:
            started = time.monotonic()
            assert admin_get(admin, "/healthz", timeout=1.0) == (200, b"ok\n")
            assert time.monotonic() - started < 1.0
        finally:
            for sock in silent:
                sock.close()


def test_past_the_connection_cap_the_oldest_silent_peer_makes_room(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(admin_server, "MAX_CONNECTIONS", 8)

    async def scenario() -> None:
        server = AdminServer(FakeControl(), AdminConfig(address="127.0.0.1:0"))
        await server.start()
        host, port = server.address
        try:
            silent = [await asyncio.open_connection(host, port) for _ in range(20)]
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            reply = await asyncio.wait_for(reader.read(), 2)
            assert reply.startswith(b"HTTP/1.1 200 OK\r\n") and reply.endswith(b"\r\nok\n")
            # Each of the thirteen peers past the cap (/healthz the last) closed the oldest
            # silent one; the seven newest still wait.
            closed = [await asyncio.wait_for(r.read(), 2) == b"" for r, _ in silent[:13]]
            assert all(closed)
            for r, _ in silent[13:]:
                with pytest.raises(TimeoutError):
                    await asyncio.wait_for(r.read(), 0.05)
            for _, w in [*silent, (reader, writer)]:
                w.close()
        finally:
            await server.stop()

    asyncio.run(scenario())
