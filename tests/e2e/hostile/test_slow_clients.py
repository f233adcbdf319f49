"""Slow clients cannot hold what every client needs.

Attacks: clients that trickle a request body, clients that stop reading a large response, a
client address that opens many requests at once. The defences: a body is dispatched upstream
only once it is here (or `buffer_limit` of it), at a minimum rate after a grace period; a
client that stopped reading gives its slots up when a limit is full, and loses its connection
after `send_timeout`; `max_requests_per_client` caps one address.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.backends import Backend
from tests.e2e.conftest import free_port
from tests.e2e.hostile.test_upstream_integrity import wait_for


def start(start_meshlb, tmp_path: Path, backend: Backend, listener: str, limits: str) -> int:
    port = free_port()
    cfg = tmp_path / "meshlb.toml"
    cfg.write_text(
        f"""
[[listeners]]
address = "127.0.0.1:{port}"
{listener}
[clusters.app]
endpoints = ["{backend.address}"]
[clusters.app.limits]
{limits}
"""
    )
    start_meshlb("run", "-c", str(cfg), port=port)
    return port


def connect(port: int, rcvbuf: int = 0) -> socket.socket:
    sock = socket.socket()
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.connect(("127.0.0.1", port))
    return sock


def read_until_closed(sock: socket.socket, timeout: float) -> bytes:
    sock.settimeout(timeout)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data


def closed_within(sock: socket.socket, seconds: float) -> bool:
    """Read for up to `seconds`: did the connection end (before the 500 MB response did)?"""
    deadline = time.monotonic() + seconds
    sock.settimeout(0.1)
    while time.monotonic() < deadline:
        try:
            if not sock.recv(1 << 20):
                return True
        except ConnectionResetError:
            return True
        except TimeoutError:
            pass
    return False


@pytest.fixture
def backend() -> Backend:
    b = Backend("b1")
    yield b
    b.stop()


def test_clients_trickling_bodies_hold_no_limit_and_get_408(
    start_meshlb, tmp_path: Path, backend: Backend
) -> None:
    port = start(
        start_meshlb,
        tmp_path,
        backend,
        'body_grace = "2s"',
        "max_requests = 10\nmax_connections = 10\nmax_pending_requests = 2",
    )
    tricklers = []
    for _ in range(40):
        sock = connect(port)
        sock.sendall(b"POST /echo HTTP/1.1\r\nhost: a\r\ncontent-length: 100000\r\n\r\nxxxxxxxxxx")
        tricklers.append(sock)
    url = f"http://127.0.0.1:{port}"
    with httpx.Client(timeout=5) as client:
        statuses = [client.get(url + "/").status_code for _ in range(30)]
        posted = client.post(url + "/echo", content=b"y" * 200_000)
    assert statuses == [200] * 30  # the tricklers took no slot
    assert posted.status_code == 200 and posted.content == b"200000"  # a real upload still works
    assert len(backend.requests) == 31  # nothing of the tricklers reached the backend
    for sock in tricklers:  # below body_min_rate after the grace: 408
        answer = read_until_closed(sock, 10)
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:80]
        assert b"x-meshlb-reason: body_timeout" in answer
        sock.close()


def test_a_steady_upload_is_not_cut_by_the_body_rate_floor(
    start_meshlb, tmp_path: Path, backend: Backend
) -> None:
    port = start(start_meshlb, tmp_path, backend, 'body_grace = "1s"\nbody_min_rate = "1KiB"', "")
    sock = connect(port)
    total = 3 * 8 * 4096
    sock.sendall(b"POST /echo HTTP/1.1\r\nhost: a\r\ncontent-length: %d\r\n\r\n" % total)
    for _ in range(3 * 8):  # 32 KiB/s for 3 s
        sock.sendall(b"z" * 4096)
        time.sleep(0.125)
    sock.settimeout(10)
    answer = sock.recv(65536)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:80]
    assert answer.endswith(b"%d" % total)


def test_clients_that_stop_reading_give_their_slots_to_new_requests(
    start_meshlb, tmp_path: Path, backend: Backend
) -> None:
    port = start(
        start_meshlb,
        tmp_path,
        backend,
        "",
        'max_requests = 8\nmax_connections = 8\nmax_pending_requests = 4\npending_timeout = "2s"',
    )
    readers = []
    for _ in range(8):
        sock = connect(port, rcvbuf=4096)
        sock.sendall(b"GET /bytes/500000000 HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n")
        readers.append(sock)  # and never read
    wait_for(lambda: len(backend.requests) == 8)
    time.sleep(1.5)  # they have stalled longer than the preemption threshold (1 s)
    url = f"http://127.0.0.1:{port}"
    with httpx.Client(timeout=5) as client:
        statuses = [client.get(url + "/").status_code for _ in range(20)]
    assert statuses == [200] * 20
    cut = sum(1 for sock in readers if closed_within(sock, 1.0))
    assert cut >= 1  # the slots came from stalled readers, cut off mid-response
    for sock in readers:
        sock.close()


def test_a_client_that_reads_nothing_is_cut_off_after_send_timeout(
    start_meshlb, tmp_path: Path, backend: Backend
) -> None:
    port = start(start_meshlb, tmp_path, backend, 'send_timeout = "1s"', "")
    sock = connect(port, rcvbuf=4096)
    sock.sendall(b"GET /bytes/50000000 HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n")
    wait_for(lambda: len(backend.requests) == 1)
    started = time.monotonic()
    time.sleep(2)  # read nothing for longer than send_timeout
    got = read_until_closed(sock, 10)
    sock.close()
    assert len(got) < 50_000_000  # cut off, not served to the end
    assert time.monotonic() - started < 10
    # The upstream connection was released: the next request is served at once.
    assert httpx.get(f"http://127.0.0.1:{port}/", timeout=5).status_code == 200


def test_one_client_address_is_capped_in_flight(
    start_meshlb, tmp_path: Path, backend: Backend
) -> None:
    port = start(start_meshlb, tmp_path, backend, "max_requests_per_client = 2", "")
    url = f"http://127.0.0.1:{port}"
    results: list[httpx.Response] = []

    def slow() -> None:
        results.append(httpx.get(url + "/delay/800", timeout=5))

    threads = [threading.Thread(target=slow) for _ in range(2)]
    for t in threads:
        t.start()
    wait_for(lambda: len(backend.requests) == 2)
    third = httpx.get(url + "/", timeout=5)
    for t in threads:
        t.join()
    assert third.status_code == 429
    assert third.headers["x-meshlb-reason"] == "client_limit"
    assert [r.status_code for r in results] == [200, 200]
    assert httpx.get(url + "/", timeout=5).status_code == 200  # the count went back down
