"""Several worker processes behind one supervisor: SO_REUSEPORT sharing, restarts, merged stats."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import httpx

from tests.e2e.conftest import free_port


def log_lines(path) -> list[str]:
    """Whole JSON lines of an access log written so far."""
    if not path.exists():
        return []
    return [line for line in path.read_text().splitlines() if line.startswith("{")]


def worker_pids(supervisor_pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(supervisor_pid)], capture_output=True, text=True)
    return sorted(int(p) for p in out.stdout.split())


def test_two_workers_share_the_port_and_a_killed_one_is_replaced(
    start_meshlb, backends, tmp_path
) -> None:
    admin_port = free_port()
    log = tmp_path / "access.log"
    args = ["run", "--listen", "AUTO", "--workers", "2", "--access-log", str(log)]
    for b in backends:
        args += ["--upstream", b.address]
    cfg_admin = ["--admin", f"127.0.0.1:{admin_port}"]
    m = start_meshlb(*args, *cfg_admin)
    deadline = time.monotonic() + 10
    while len(worker_pids(m.proc.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    first = worker_pids(m.proc.pid)
    assert len(first) == 2

    # Connection: close makes every request a new connection, which the kernel spreads.
    client = httpx.Client(base_url=m.url, headers={"connection": "close"})
    for i in range(60):
        assert client.get(f"/{i}").status_code == 200

    deadline = time.monotonic() + 10  # every line out, the victim's included, before the kill
    while time.monotonic() < deadline and len(log_lines(log)) < 60:
        time.sleep(0.05)
    os.kill(first[0], signal.SIGKILL)
    failures = 0
    for i in range(100):
        try:
            if client.get(f"/after/{i}").status_code != 200:
                failures += 1
        except httpx.TransportError:
            failures += 1  # only a connection already queued on the dead worker may fail
    assert failures <= 1
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        now = worker_pids(m.proc.pid)
        if len(now) == 2 and first[0] not in now:
            break
        time.sleep(0.1)
    assert len(now) == 2 and first[0] not in now

    deadline = time.monotonic() + 10  # the new worker reports within a stats period
    while time.monotonic() < deadline:
        clusters = httpx.get(f"http://127.0.0.1:{admin_port}/clusters").json()
        if clusters["workers"] == 2:
            break
        time.sleep(0.2)
    assert clusters["workers"] == 2
    code, out, err = m.stop()
    assert code == 0, err
    pids = {json.loads(line)["pid"] for line in log_lines(log)}
    assert first[1] in pids and first[0] in pids, pids
