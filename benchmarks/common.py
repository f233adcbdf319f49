"""Shared helpers for the benchmarks: nginx instances, process CPU, wrk runs, tables."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
ROOT = Path(__file__).resolve().parents[1]


def need(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        sys.exit(
            f"missing {', '.join(missing)}: apt-get install -y nginx wrk nghttp2-client haproxy"
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {port}")


def cpu_seconds(pids: list[int]) -> float:
    """user + system CPU of the processes (fields 14 and 15 of /proc/PID/stat)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


class Nginx:
    """A private nginx instance: its own prefix, config, pid file; pinned to a CPU set."""

    def __init__(self, body: str, *, cpus: str, workers: int = 1) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="meshlb-bench-nginx-"))
        (self.dir / "logs").mkdir()
        self.body = body
        self.cpus = cpus
        self.workers = workers
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        conf = self.dir / "nginx.conf"
        conf.write_text(
            f"""
worker_processes {self.workers};
daemon off;
pid {self.dir}/nginx.pid;
error_log {self.dir}/logs/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {self.dir}/body;
  proxy_temp_path {self.dir}/proxy;
  fastcgi_temp_path {self.dir}/fastcgi;
  uwsgi_temp_path {self.dir}/uwsgi;
  scgi_temp_path {self.dir}/scgi;
  keepalive_requests 1000000;
  {self.body}
}}
"""
        )
        self.proc = subprocess.Popen(
            ["taskset", "-c", self.cpus, "nginx", "-p", str(self.dir), "-c", str(conf)],
            stderr=subprocess.DEVNULL,
        )

    def pids(self) -> list[int]:
        assert self.proc is not None
        return [self.proc.pid, *children(self.proc.pid)]

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


def static_server(port: int, body: str = "hello world\n") -> str:
    return (
        f"server {{ listen 127.0.0.1:{port} reuseport; "
        f"location / {{ default_type text/plain; return 200 '{body}'; }} }}"
    )


def proxy_server(port: int, upstream_port: int) -> str:
    return (
        f"upstream backend {{ server 127.0.0.1:{upstream_port}; keepalive 64; }} "
        f"server {{ listen 127.0.0.1:{port}; location / {{ proxy_pass http://backend; "
        f'proxy_http_version 1.1; proxy_set_header Connection ""; }} }}'
    )


@dataclass
class WrkResult:
    requests: int
    rps: float
    p99_ms: float
    errors: int


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def run_wrk(url: str, *, seconds: float, connections: int = 64, cpus: str = "1") -> WrkResult:
    out = subprocess.run(
        [
            "taskset",
            "-c",
            cpus,
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds:g}s",
            "--latency",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
    ).stdout
    m = re.search(r"(\d+) requests in", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    errors = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if not (m and rps and p99):
        raise RuntimeError(f"cannot parse wrk output:\n{out}")
    return WrkResult(
        requests=int(m.group(1)),
        rps=float(rps.group(1)),
        p99_ms=float(p99.group(1)) * _UNITS[p99.group(2)],
        errors=errors + (int(non2xx.group(1)) if non2xx else 0),
    )


def print_table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |"
    print(line)
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print("| " + " | ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) + " |")
