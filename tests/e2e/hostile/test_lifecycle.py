"""Lifecycle: a TCP client that is quicker than the upstream connect, one that pushes more
than anyone reads, and reloads and worker deaths in a group of workers.

Reload tests hold a port with a socket of their own, so that a config listening there cannot
be applied; they tell the old config from the new one by the backend that answers (b1 or b2)
and which process served a request by the access log's pid.

TCP upstreams here are plain sockets driven by threads. `ReplyAtEof` reads a connection to
its end and only then answers (how many bytes came and their digest) and closes, as
request/response protocols over a half-closed connection do. With `held=True` its accept
queue is full (a backlog of 0 and one filler connection), so meshlb's connect waits for SYN
retransmissions until the test calls `release()`.
"""

from __future__ import annotations

import hashlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.backends import Backend
from tests.e2e.conftest import ROOT, Meshlb, free_port


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


# -- reload and workers ---------------------------------------------------------------------


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def worker_pids(supervisor_pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(supervisor_pid)], capture_output=True, text=True)
    return sorted(int(p) for p in out.stdout.split())


def http_config(
    path: Path,
    port: int,
    backend: Backend,
    *,
    admin_port: int,
    workers: int,
    extra: int | None = None,
) -> Path:
    text = f"""
workers = {workers}
access_log = "stdout"
[[listeners]]
name = "main"
address = "127.0.0.1:{port}"
"""
    if extra is not None:
        text += f"""
[[listeners]]
name = "extra"
address = "127.0.0.1:{extra}"
"""
    text += f"""
[clusters.app]
endpoints = ["{backend.address}"]
[admin]
address = "127.0.0.1:{admin_port}"
"""
    path.write_text(text)
    return path


def all_ready(admin_port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{admin_port}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def answering(port: int, prefix: str, count: int = 40) -> set[str]:
    """The backends that answered `count` requests, each on a new connection."""
    seen = set()
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"connection": "close"}) as c:
        for i in range(count):
            seen.add(c.get(f"/{prefix}/{i}").json()["backend"])
    return seen


def serving_pids(out: str, prefix: str) -> set[int]:
    """The processes that served requests under /prefix/, from the access log."""
    entries = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return {e["pid"] for e in entries if e["path"].startswith(f"/{prefix}/")}


def held_port() -> tuple[socket.socket, int]:
    """A port this test listens on, without SO_REUSEPORT: meshlb cannot bind it."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    return sock, int(sock.getsockname()[1])


def meshlb_reload(admin_port: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "meshlb", "reload", "--admin", f"127.0.0.1:{admin_port}"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


def test_a_reload_no_worker_can_apply_is_refused_and_a_replaced_worker_runs_the_old_config(
    start_meshlb, backends: list[Backend], tmp_path: Path
) -> None:
    port, admin_port = free_port(), free_port()
    cfg = http_config(tmp_path / "m.toml", port, backends[0], admin_port=admin_port, workers=2)
    m = start_meshlb("run", "-c", str(cfg), port=port)
    assert wait_for(lambda: all_ready(admin_port))
    holder, taken = held_port()
    with holder:
        http_config(cfg, port, backends[1], admin_port=admin_port, workers=2, extra=taken)
        refused = meshlb_reload(admin_port)
        assert refused.returncode == 1, refused.stdout
        assert "reload not applied, the old config keeps running" in refused.stderr
        assert f"listener 'extra' on 127.0.0.1:{taken}: " in refused.stderr
        assert "(workers 0, 1)" in refused.stderr
        assert answering(port, "refused") == {"b1"}

        first = worker_pids(m.proc.pid)
        os.kill(first[0], signal.SIGKILL)
        assert wait_for(lambda: first[0] not in worker_pids(m.proc.pid))
        assert wait_for(lambda: len(worker_pids(m.proc.pid)) == 2 and all_ready(admin_port))
        replacement = (set(worker_pids(m.proc.pid)) - set(first)).pop()
        assert answering(port, "replaced") == {"b1"}
        assert m.proc.poll() is None

    # Once the port is free the same file applies, in every worker.
    applied = meshlb_reload(admin_port)
    assert applied.returncode == 0, applied.stderr
    assert answering(port, "applied") == {"b2"} == answering(taken, "applied-extra")
    code, out, err = m.stop()
    assert code == 0, err
    assert replacement in serving_pids(out, "replaced")
    assert "reload refused: nothing of it was applied; the old config keeps running" in err


def test_a_good_reload_is_answered_once_every_worker_runs_it(
    start_meshlb, backends: list[Backend], tmp_path: Path
) -> None:
    port, admin_port, extra = free_port(), free_port(), free_port()
    cfg = http_config(tmp_path / "m.toml", port, backends[0], admin_port=admin_port, workers=2)
    m = start_meshlb("run", "-c", str(cfg), port=port)
    assert wait_for(lambda: all_ready(admin_port))
    pids = worker_pids(m.proc.pid)
    assert len(pids) == 2
    http_config(cfg, port, backends[1], admin_port=admin_port, workers=2, extra=extra)

    answer: list[httpx.Response] = []
    os.kill(pids[0], signal.SIGSTOP)  # this worker answers only when it runs again
    try:
        asking = threading.Thread(
            target=lambda: answer.append(
                httpx.post(f"http://127.0.0.1:{admin_port}/reload", timeout=30)
            )
        )
        asking.start()
        asking.join(1.0)
        assert asking.is_alive(), "the reload was answered before every worker took it"
    finally:
        os.kill(pids[0], signal.SIGCONT)
    asking.join(30)
    assert answer[0].status_code == 200 and answer[0].json() == {"ok": True}
    assert answering(port, "main") == {"b2"}
    assert answering(extra, "extra") == {"b2"}
    code, out, err = m.stop()
    assert code == 0, err
    assert serving_pids(out, "main") == set(pids) == serving_pids(out, "extra")
    assert "reload applied: all 2 workers run" in err


def test_a_group_that_cannot_keep_its_workers_up_exits_with_status_1(
    start_meshlb, backends: list[Backend], tmp_path: Path
) -> None:
    port, admin_port = free_port(), free_port()
    cfg = http_config(tmp_path / "m.toml", port, backends[0], admin_port=admin_port, workers=2)
    m: Meshlb = start_meshlb("run", "-c", str(cfg), port=port)
    assert wait_for(lambda: all_ready(admin_port))
    pids = worker_pids(m.proc.pid)
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    # Another process takes the port while no worker holds it.
    taker = socket.socket()
    taker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    with taker:

        def take() -> bool:
            try:
                taker.bind(("127.0.0.1", port))
            except OSError:
                return False
            taker.listen(8)
            return True

        assert wait_for(take, timeout=5)
        try:
            m.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail("meshlb kept running without workers")
    code, _, err = m.stop()
    assert code == 1, err
    assert "meshlb stops, status 1: worker" in err
    assert "could not start again with the running config (3 tries in a row)" in err
    assert f"listener 'main' on 127.0.0.1:{port}: " in err


def test_single_process_a_listener_that_cannot_bind_fails_the_whole_reload(
    start_meshlb, backends: list[Backend], tmp_path: Path
) -> None:
    port, admin_port = free_port(), free_port()
    cfg = http_config(tmp_path / "m.toml", port, backends[0], admin_port=admin_port, workers=1)
    m = start_meshlb("run", "-c", str(cfg), port=port)
    holder, taken = held_port()
    with holder:
        http_config(cfg, port, backends[1], admin_port=admin_port, workers=1, extra=taken)
        r = httpx.post(f"http://127.0.0.1:{admin_port}/reload", timeout=30)
        assert r.status_code == 400
        [error] = r.json()["errors"]
        assert error.startswith(f"listener 'extra' on 127.0.0.1:{taken}: "), error
        m.proc.send_signal(signal.SIGHUP)
        assert answering(port, "kept") == {"b1"}
    code, _, err = m.stop()
    assert code == 0, err
    assert err.count("reload refused: nothing of it was applied; the old config keeps running") == 2
