"""A backend's bytes reach only the client whose request they answer.

Each test scripts a backend that sends what nobody asked for (a body on a HEAD or 304
response, two responses for one request, an unrequested 101, bytes while idle) or breaks its
framing, and checks that the surplus closes that upstream connection and never reaches a
client, and that the next client gets its own answer.
"""

from __future__ import annotations

import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import free_port
from tests.e2e.hostile.peers import CLOSE, Answer, Request, ScriptedBackend, response
from tests.e2e.wire import read_response

SLOW = 0.3  # the misbehaving answer waits this long, so that the next request queues


def answer(request: Request) -> Answer:
    path = request.path
    if path == "/mine":
        return response(200, b"mine")
    if path == "/head-with-body":  # for HEAD: a body nobody may send
        return [SLOW, response(200, b"EVIL-HEAD-BODY")]
    if path == "/two-responses":
        return [SLOW, response(200, b"first") + response(200, b"EVIL-SECOND")]
    if path == "/304-with-body":
        return [SLOW, b"HTTP/1.1 304 Not Modified\r\netag: x\r\n\r\n" + response(200, b"EVIL-304")]
    if path == "/204-with-body":
        return [SLOW, b"HTTP/1.1 204 No Content\r\n\r\nEVIL-204"]
    if path == "/partial-extra":
        return response(200, b"one") + b"HTTP/1.1 200 OK\r\ncontent-le"
    if path == "/junk-later":
        return [response(200, b"ok"), 0.1, b"EVIL-LATER"]
    if path == "/101-unasked":
        return b"HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: evil\r\n\r\n"
    if path == "/bad-chunk":
        return b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"
    if path == "/early-hints":
        return [
            b"HTTP/1.1 103 Early Hints\r\nlink: </style.css>; rel=preload\r\n\r\n",
            0.05,
            response(200, b"final"),
        ]
    if path == "/many-interim":
        return [b"HTTP/1.1 102 Processing\r\n\r\n" * 100, response(200, b"late")]
    return response(404)


@pytest.fixture
def backend() -> Iterator[ScriptedBackend]:
    b = ScriptedBackend(answer)
    yield b
    b.stop()


def start(start_meshlb, tmp_path: Path, backend: ScriptedBackend, cluster: str = "") -> str:
    port = free_port()
    cfg = tmp_path / "meshlb.toml"
    cfg.write_text(
        f"""
[[listeners]]
address = "127.0.0.1:{port}"
[clusters.app]
endpoints = ["{backend.address}"]
timeout = "10s"
{cluster}
"""
    )
    return start_meshlb("run", "-c", str(cfg), port=port).url


def one_connection(start_meshlb, tmp_path: Path, backend: ScriptedBackend) -> str:
    """meshlb with one upstream connection at most: the next request waits for this one's."""
    return start(start_meshlb, tmp_path, backend, "[clusters.app.limits]\nmax_connections = 1")


def wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        time.sleep(0.01)


def while_queued(url: str, backend: ScriptedBackend, method: str, path: str) -> tuple:
    """Send `method path`, and while its answer is pending, a GET /mine that must queue
    for the one upstream connection. Both responses."""
    results: dict[str, httpx.Response] = {}

    def first() -> None:
        results["first"] = httpx.request(method, url + path, timeout=10)

    t = threading.Thread(target=first)
    t.start()
    wait_for(lambda: len(backend.seen.requests) >= 1)
    mine = httpx.get(url + "/mine", timeout=10)
    t.join(10)
    return results["first"], mine


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("HEAD", "/head-with-body"),
        ("GET", "/two-responses"),
        ("GET", "/304-with-body"),
        ("GET", "/204-with-body"),
    ],
)
def test_surplus_bytes_never_reach_the_client_queued_behind(
    start_meshlb, tmp_path: Path, backend: ScriptedBackend, method: str, path: str
) -> None:
    url = one_connection(start_meshlb, tmp_path, backend)
    first, mine = while_queued(url, backend, method, path)
    assert mine.status_code == 200
    assert mine.content == b"mine"  # its own answer, not the surplus of the other's
    assert b"EVIL" not in first.content
    # The misbehaving connection was closed, never reused: /mine came on a new one.
    assert [r.connection for r in backend.seen.requests] == [1, 2]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("HEAD", "/head-with-body"),
        ("GET", "/two-responses"),
        ("GET", "/304-with-body"),
        ("GET", "/partial-extra"),
        ("GET", "/junk-later"),
    ],
)
def test_surplus_bytes_close_the_connection_and_the_next_request_is_served(
    start_meshlb, tmp_path: Path, backend: ScriptedBackend, method: str, path: str
) -> None:
    url = start(start_meshlb, tmp_path, backend)
    with socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1]))) as client:
        client.sendall(f"{method} {path} HTTP/1.1\r\nhost: a\r\n\r\n".encode())
        first = read_response(client, head_only=method == "HEAD", timeout=5)
        assert first.startswith(b"HTTP/1.1 ")
        if path == "/junk-later":  # meshlb closes the idle connection the junk came on
            wait_for(lambda: 1 in backend.seen.closed)
        client.sendall(b"GET /mine HTTP/1.1\r\nhost: a\r\n\r\n")
        second = read_response(client, timeout=5)
        client.settimeout(0.3)
        with pytest.raises(TimeoutError):
            extra = client.recv(65536)  # nothing more may arrive: no late 504, no surplus
            raise AssertionError(f"unrequested bytes reached the client: {extra!r}")
    assert b"EVIL" not in first
    assert second.startswith(b"HTTP/1.1 200 ")
    assert second.endswith(b"\r\n\r\nmine")
    assert [r.connection for r in backend.seen.requests] == [1, 2]


def test_an_unrequested_101_is_a_bad_response_and_poisons_nothing(
    start_meshlb, tmp_path: Path, backend: ScriptedBackend
) -> None:
    url = start(start_meshlb, tmp_path, backend)
    with httpx.Client(timeout=5) as client:
        bad = client.get(url + "/101-unasked")
        assert bad.status_code == 502
        assert bad.headers["x-meshlb-reason"] == "bad_response"
        started = time.monotonic()
        good = client.get(url + "/mine")
    assert good.status_code == 200 and good.content == b"mine"
    assert time.monotonic() - started < 2  # answered, not left to a 30 s timeout
    assert [r.connection for r in backend.seen.requests] == [1, 2]


def test_an_invalid_chunk_size_is_answered_502(
    start_meshlb, tmp_path: Path, backend: ScriptedBackend
) -> None:
    url = start(start_meshlb, tmp_path, backend)
    bad = httpx.get(url + "/bad-chunk", timeout=5)
    assert bad.status_code == 502
    assert bad.headers["x-meshlb-reason"] == "bad_response"
    assert httpx.get(url + "/mine", timeout=5).content == b"mine"


def test_early_hints_reach_an_http11_client_before_the_response(
    start_meshlb, tmp_path: Path, backend: ScriptedBackend
) -> None:
    url = start(start_meshlb, tmp_path, backend)
    with socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1]))) as client:
        client.sendall(b"GET /early-hints HTTP/1.1\r\nhost: a\r\n\r\n")
        hints = read_response(client, head_only=True, timeout=5)
        assert hints.startswith(b"HTTP/1.1 103 ")
        assert b"link: </style.css>; rel=preload" in hints.lower()
        rest = hints.partition(b"\r\n\r\n")[2]
        if b"\r\n\r\n" not in rest:
            rest += read_response(client, timeout=5)
        assert rest.startswith(b"HTTP/1.1 200 ")
        assert rest.endswith(b"final")


def test_early_hints_are_not_sent_to_an_http10_client(
    start_meshlb, tmp_path: Path, backend: ScriptedBackend
) -> None:
    url = start(start_meshlb, tmp_path, backend)
    with socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1]))) as client:
        client.sendall(b"GET /early-hints HTTP/1.0\r\nhost: a\r\n\r\n")
        answer = read_response(client, timeout=5)
    assert answer.startswith(b"HTTP/1.1 200 ")  # RFC 9110 §15.2: no 1xx to HTTP/1.0
    assert answer.endswith(b"final")


def test_an_endless_stream_of_interim_responses_is_a_bad_response(
    start_meshlb, tmp_path: Path, backend: ScriptedBackend
) -> None:
    url = start(start_meshlb, tmp_path, backend)
    bad = httpx.get(url + "/many-interim", timeout=5)
    assert bad.status_code == 502
    assert bad.headers["x-meshlb-reason"] == "bad_response"


def test_413_before_the_body_is_read_reaches_the_client(start_meshlb, tmp_path: Path) -> None:
    def refuse(request: Request) -> Answer:
        return [response(413, b"too big", "connection: close"), CLOSE]

    backend = ScriptedBackend(refuse, read_body=False)
    try:
        url = start(start_meshlb, tmp_path, backend)
        body = b"x" * (8 * 1024 * 1024)
        for _ in range(3):
            answer = httpx.post(url + "/upload", content=body, timeout=10)
            assert answer.status_code == 413
            assert answer.content == b"too big"
    finally:
        backend.stop()


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_bytes_after_an_unanswered_upgrade_request_are_bounded(start_meshlb, tmp_path) -> None:
    """The client pushes bytes of another protocol while the upstream sits on its Upgrade
    request: meshlb holds a bounded amount and stops reading, instead of buffering all."""
    backend = ScriptedBackend(lambda request: None)  # never answers
    try:
        port = free_port()
        cfg = tmp_path / "meshlb.toml"
        cfg.write_text(
            f'[[listeners]]\naddress = "127.0.0.1:{port}"\n'
            f'[clusters.app]\nendpoints = ["{backend.address}"]\ntimeout = "60s"\n'
        )
        proxy = start_meshlb("run", "-c", str(cfg), port=port)
        before = rss_kib(proxy.proc.pid)
        sent = 0
        with socket.create_connection(("127.0.0.1", port)) as client:
            client.sendall(
                b"GET /ws HTTP/1.1\r\nhost: a\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n"
            )
            wait_for(lambda: len(backend.seen.requests) == 1)
            client.settimeout(1.0)
            chunk = b"z" * 65536
            deadline = time.monotonic() + 10
            try:
                while sent < 512 * 1024 * 1024 and time.monotonic() < deadline:
                    client.sendall(chunk)
                    sent += len(chunk)
            except TimeoutError:
                pass  # meshlb stopped reading: the kernel buffers filled
            grown = rss_kib(proxy.proc.pid) - before
        proxy.stop(signal.SIGKILL)  # (a graceful drain would wait for the paused tunnel)
        assert sent < 64 * 1024 * 1024, "meshlb kept reading another protocol's bytes"
        assert grown < 32 * 1024, f"RSS grew by {grown} KiB"
    finally:
        backend.stop()
