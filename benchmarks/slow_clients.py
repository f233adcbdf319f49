"""Slow clients against meshlb and nginx, both on their defaults, side by side.

    python benchmarks/slow_clients.py                          # both attacks, both proxies
    python benchmarks/slow_clients.py --tricklers 1100 --readers 2000 --seconds 8
    python benchmarks/slow_clients.py --root /path/to/other/checkout   # another meshlb

Two attacks, each run against a fresh proxy in front of the same nginx backend:

- tricklers: N connections send a POST head with `Content-Length: 1000000` and then one byte
  per second;
- slow readers: N connections ask for a 50 MiB file and read nothing (a 4 KiB receive
  buffer).

Once the attackers are connected, wrk (16 connections, `--seconds`) plays the other clients.
Printed per proxy and attack: the other clients' requests and how many got a 2xx, and the
proxy's RSS (all its processes) at the end. meshlb runs with `meshlb run --listen --upstream`
and every default; nginx with `proxy_pass` and its defaults. All on 127.0.0.1, bounded in
time; the machine needs `apt-get install -y nginx wrk`.
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import (  # noqa: E402
    Nginx,
    free_port,
    need,
    print_table,
    proxy_server,
    run_wrk,
    wait_port,
)

BIG = 50 * 1024 * 1024


def rss_mib(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                total += next(int(x.split()[1]) for x in f if x.startswith("VmRSS:"))
        except (FileNotFoundError, StopIteration):
            continue
    return total / 1024


class Attack:
    """Attacking connections, opened at start and kept busy by a thread until stop()."""

    def __init__(self, kind: str, port: int, count: int) -> None:
        self.kind = kind
        self.socks: list[socket.socket] = []
        for _ in range(count):
            sock = socket.socket()
            if kind == "readers":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect(("127.0.0.1", port))
            if kind == "readers":
                sock.sendall(b"GET /big HTTP/1.1\r\nhost: a\r\n\r\n")
            else:
                sock.sendall(b"POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 1000000\r\n\r\nx")
            sock.setblocking(False)
            self.socks.append(sock)
        self.running = True
        self.thread = threading.Thread(target=self._trickle, daemon=True)
        self.thread.start()

    def _trickle(self) -> None:
        while self.running and self.kind == "tricklers":
            for sock in self.socks:
                with contextlib.suppress(OSError):
                    sock.send(b"x")
            time.sleep(1.0)

    def stop(self) -> None:
        self.running = False
        self.thread.join()
        for sock in self.socks:
            sock.close()


def raise_fd_limit() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def run_meshlb(root: Path, port: int, backend: int) -> tuple[subprocess.Popen[bytes], list[int]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "meshlb", "run", "--listen", f"127.0.0.1:{port}",
         "--upstream", f"127.0.0.1:{backend}", "--admin", "off"],
        cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=raise_fd_limit,
    )  # fmt: skip
    wait_port(port)
    return proc, [proc.pid]


def measure(name: str, kind: str, port: int, pids, count: int, seconds: float) -> list[str]:
    attack = Attack(kind, port, count)
    try:
        time.sleep(2.0)  # the attackers are in place (and stalled)
        result = run_wrk(f"http://127.0.0.1:{port}/", seconds=seconds, connections=16, cpus="0,1")
        rss = rss_mib(pids())
    finally:
        attack.stop()
    served = result.requests - result.errors
    return [
        name,
        f"{count} {kind}",
        f"{result.requests}",
        f"{served} ({100 * served / max(1, result.requests):.0f} %)",
        f"{rss:.0f}",
    ]


def main() -> None:
    need("nginx", "wrk")
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tricklers", type=int, default=1100)
    parser.add_argument("--readers", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--root", type=Path, default=ROOT, help="the meshlb checkout to run")
    args = parser.parse_args()
    raise_fd_limit()

    files = Path(tempfile.mkdtemp(prefix="meshlb-bench-files-"))
    (files / "big").write_bytes(b"x" * BIG)
    files.chmod(0o755)  # nginx's workers run as another user
    (files / "big").chmod(0o644)
    # The backend reads a request's whole body before it answers (it proxies to a second
    # server, and nginx buffers request bodies), as an application would.
    backend_port, app_port = free_port(), free_port()
    backend = Nginx(
        f"server {{ listen 127.0.0.1:{backend_port}; root {files}; "
        f"location = / {{ proxy_pass http://127.0.0.1:{app_port}; }} }} "
        f"server {{ listen 127.0.0.1:{app_port}; "
        f"location / {{ return 200 'hello world\\n'; }} }}",
        cpus="1",
    )
    backend.start()
    wait_port(backend_port)
    rows = []
    try:
        for kind, count in (("tricklers", args.tricklers), ("readers", args.readers)):
            port = free_port()
            proc, pids = run_meshlb(args.root, port, backend_port)
            try:
                rows.append(measure("meshlb", kind, port, lambda p=pids: p, count, args.seconds))
            finally:
                proc.kill()  # (a graceful drain would wait for the attackers)
                proc.wait(30)
            port = free_port()
            nginx = Nginx(proxy_server(port, backend_port), cpus="0")
            nginx.start()
            wait_port(port)
            try:
                rows.append(measure("nginx", kind, port, nginx.pids, count, args.seconds))
            finally:
                nginx.stop()
    finally:
        backend.stop()
        for f in files.iterdir():
            f.unlink()
        files.rmdir()
    print_table(["proxy", "attack", "other clients' requests", "2xx", "proxy RSS MiB"], rows)


if __name__ == "__main__":
    main()
