"""The HTTP/1.1 proxy end to end: real sockets, real clients (httpx, curl), real backends."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import threading
import time

import httpx
import pytest

from tests.e2e.backends import Backend
from tests.e2e.conftest import Meshlb, free_port


def raw_exchange(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """Send bytes, read until the proxy closes the connection or goes quiet."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        except TimeoutError:
            pass
        return b"".join(chunks)


def test_requests_are_balanced_round_robin_over_keep_alive(
    proxy: Meshlb, backends: list[Backend]
) -> None:
    with httpx.Client(base_url=proxy.url) as client:
        seen = [client.get(f"/hello/{i}").json()["backend"] for i in range(30)]
    assert sorted(set(seen)) == ["b1", "b2", "b3"]
    assert all(seen.count(b) == 10 for b in ("b1", "b2", "b3"))
    # keep-alive upstream: far fewer upstream connections than requests
    assert sum(b.state.connections for b in backends) <= 6


def test_forwarding_headers_are_set_and_hop_by_hop_removed(proxy: Meshlb) -> None:
    r = httpx.get(
        proxy.url + "/headers",
        headers={
            "X-Forwarded-For": "203.0.113.9",
            "Connection": "keep-alive, X-Secret-Hop",
            "X-Secret-Hop": "1",
            "Keep-Alive": "timeout=5",
            "Proxy-Authorization": "Basic Zm9vOmJhcg==",
            "X-Request-Id": "abc-123",
        },
    )
    seen = {k.lower(): v for k, v in r.json()["headers"]}
    # The client is no trusted proxy: its X-Forwarded-For is replaced, not extended.
    assert seen["x-forwarded-for"] == "127.0.0.1"
    assert seen["x-real-ip"] == "127.0.0.1"
    assert seen["x-forwarded-proto"] == "http"
    assert seen["x-forwarded-host"] == f"127.0.0.1:{proxy.port}"
    assert seen["via"] == "1.1 meshlb"
    assert seen["x-request-id"] == "abc-123"
    for hop in ("connection", "x-secret-hop", "keep-alive", "proxy-authorization"):
        assert hop not in seen


def test_a_request_id_is_set_when_absent(proxy: Meshlb) -> None:
    ids = set()
    for _ in range(3):
        seen = {k.lower(): v for k, v in httpx.get(proxy.url + "/headers").json()["headers"]}
        ids.add(seen["x-request-id"])
    assert len(ids) == 3


def test_pipelined_requests_are_answered_in_order(proxy: Meshlb) -> None:
    requests = (
        b"".join(b"GET /delay/%d HTTP/1.1\r\nHost: x\r\n\r\n" % d for d in (60, 0, 30, 0))
        + b"GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    reply = raw_exchange(proxy.port, requests)
    paths = [
        json.loads(line)["path"]
        for line in reply.split(b"\r\n\r\n")[1:]
        if line.startswith(b"{")
        for line in [line.split(b"HTTP/1.1")[0]]
    ]
    assert paths == ["/delay/60", "/delay/0", "/delay/30", "/delay/0", "/last"]


def test_chunked_request_and_response_bodies(proxy: Meshlb) -> None:
    def parts():
        yield b"hello "
        yield b"chunked "
        yield b"world"

    r = httpx.post(proxy.url + "/echo", content=parts())
    assert r.content == b"hello chunked world"
    r = httpx.get(proxy.url + "/chunked/300000")
    assert r.status_code == 200 and len(r.content) == 300000


def test_read_until_close_body_is_rechunked_for_http11(proxy: Meshlb) -> None:
    r = httpx.get(proxy.url + "/close/100000")
    assert r.headers.get("transfer-encoding") == "chunked"
    assert len(r.content) == 100000


def test_expect_100_continue_with_curl(proxy: Meshlb) -> None:
    out = subprocess.run(
        [
            "curl",
            "-sv",
            "-H",
            "Expect: 100-continue",
            "--data-binary",
            "x" * 5000,
            proxy.url + "/echo",
        ],
        capture_output=True,
        timeout=10,
    )
    assert b"HTTP/1.1 100 Continue" in out.stderr
    assert out.stdout == b"x" * 5000


def test_no_endpoint_answers_502_when_all_refuse(start_meshlb) -> None:
    dead = free_port()
    m = start_meshlb("run", "--listen", "AUTO", "--upstream", f"127.0.0.1:{dead}")
    t0 = time.monotonic()
    r = httpx.get(m.url + "/x")
    assert r.status_code == 502
    assert "connect" in r.text
    assert time.monotonic() - t0 < 2


def test_unknown_route_is_404(start_meshlb, backends: list[Backend], tmp_path) -> None:
    port = free_port()
    cfg = tmp_path / "m.toml"
    cfg.write_text(
        f"""
[[listeners]]
address = "127.0.0.1:{port}"
[clusters.a]
endpoints = ["{backends[0].address}"]
[clusters.b]
endpoints = ["{backends[1].address}"]
[[routes]]
match.path_prefix = "/a/"
prefix_rewrite = "/"
cluster = "a"
response_headers_add = {{ "x-route" = "a" }}
response_headers_remove = ["x-backend"]
[[routes]]
match.host = "b.example.com"
cluster = "b"
timeout = "200ms"
"""
    )
    m = start_meshlb("run", "-c", str(cfg), port=port)
    assert httpx.get(m.url + "/nowhere").status_code == 404
    r = httpx.get(m.url + "/a/thing")
    assert r.json() == {"backend": "b1", "path": "/thing"}
    assert r.headers["x-route"] == "a" and "x-backend" not in r.headers
    r = httpx.get(m.url + "/x", headers={"host": "b.example.com"})
    assert r.json()["backend"] == "b2"
    t0 = time.monotonic()
    r = httpx.get(m.url + "/delay/2000", headers={"host": "b.example.com"})
    assert r.status_code == 504
    assert time.monotonic() - t0 < 1.5


def test_malformed_request_gets_400_and_close(proxy: Meshlb, backends: list[Backend]) -> None:
    reply = raw_exchange(
        proxy.port,
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"0\r\n\r\n",
    )
    assert reply.startswith(b"HTTP/1.1 400 ")
    assert b"connection: close" in reply.lower()
    assert all(not b.requests for b in backends)


def test_slow_header_gets_408(start_meshlb, backends: list[Backend], tmp_path) -> None:
    port = free_port()
    cfg = tmp_path / "m.toml"
    cfg.write_text(
        f"""
[[listeners]]
address = "127.0.0.1:{port}"
header_timeout = "300ms"
[clusters.a]
endpoints = ["{backends[0].address}"]
"""
    )
    m = start_meshlb("run", "-c", str(cfg), port=port)
    with socket.create_connection(("127.0.0.1", m.port), timeout=3) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        reply = s.recv(1000)
    assert reply.startswith(b"HTTP/1.1 408 ")


def _rss_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_one_gib_streams_both_ways_in_bounded_memory(proxy: Meshlb) -> None:
    pid = proxy.proc.pid
    httpx.get(proxy.url + "/warm")
    before = _rss_kib(pid, "VmRSS")
    gib = 1 << 30
    down = subprocess.run(
        ["curl", "-s", "-o", "/dev/null", "-w", "%{size_download}", proxy.url + f"/bytes/{gib}"],
        capture_output=True,
        timeout=120,
    )
    assert int(down.stdout) == gib
    up = subprocess.run(
        f"head -c {gib} /dev/zero | curl -s -T - -H 'content-type: application/octet-stream' "
        f"-X POST {proxy.url}/echo",
        shell=True,
        capture_output=True,
        timeout=120,
    )
    assert up.stdout == str(gib).encode()
    peak = _rss_kib(pid, "VmHWM")
    assert (peak - before) < 64 * 1024, f"RSS grew by {(peak - before) // 1024} MiB"


def test_graceful_shutdown_finishes_in_flight_requests(proxy: Meshlb) -> None:
    result: dict[str, object] = {}

    def slow() -> None:
        try:
            result["r"] = httpx.get(proxy.url + "/delay/800", timeout=5)
        except Exception as exc:  # pragma: no cover - reported by the assert below
            result["r"] = exc

    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.3)
    code, _, _ = proxy.stop(signal.SIGTERM)
    t.join()
    r = result["r"]
    assert isinstance(r, httpx.Response) and r.status_code == 200, r
    assert code == 0
    with pytest.raises(httpx.ConnectError):
        httpx.get(proxy.url + "/after")


def test_upgrade_switches_to_a_byte_pipe(proxy: Meshlb) -> None:
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as s:
        s.sendall(
            b"GET /upgrade HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
        )
        head = b""
        while b"\r\n\r\n" not in head:
            head += s.recv(4096)
        assert head.startswith(b"HTTP/1.1 101 ")
        assert b"upgrade: websocket" in head.lower()
        s.sendall(b"hello tunnel")
        got = head.split(b"\r\n\r\n", 1)[1]
        while len(got) < 12:
            got += s.recv(4096)
        assert got == b"HELLO TUNNEL"


def test_a_refused_upgrade_keeps_http(proxy: Meshlb) -> None:
    reply = raw_exchange(
        proxy.port,
        b"GET /plain HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
        b"GET /second HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    assert reply.count(b"HTTP/1.1 200 ") == 2
    assert b'"/second"' in reply


def test_pipelined_requests_before_a_half_close_are_all_answered(proxy: Meshlb) -> None:
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as s:
        s.sendall(b"".join(b"GET /delay/%d HTTP/1.1\r\nHost: x\r\n\r\n" % d for d in (50, 0, 0)))
        s.shutdown(socket.SHUT_WR)
        reply = b""
        while chunk := s.recv(65536):
            reply += chunk
    assert reply.count(b"HTTP/1.1 200 ") == 3
