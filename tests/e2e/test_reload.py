"""Hot reload with SIGHUP: new routes apply, bad configs are refused, nothing is lost."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import httpx

from tests.e2e.backends import Backend
from tests.e2e.conftest import free_port


def write_config(path: Path, port: int, backend: Backend, extra: str = "") -> None:
    path.write_text(
        f"""
[[listeners]]
address = "127.0.0.1:{port}"
[clusters.app]
endpoints = ["{backend.address}"]
{extra}
"""
    )


def wait_for(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_sighup_applies_a_new_config_and_refuses_a_bad_one(
    start_meshlb, backends, tmp_path
) -> None:
    port = free_port()
    cfg = tmp_path / "m.toml"
    write_config(cfg, port, backends[0])
    m = start_meshlb("run", "-c", str(cfg), port=port)
    assert httpx.get(m.url + "/").json()["backend"] == "b1"

    write_config(cfg, port, backends[1])
    m.proc.send_signal(signal.SIGHUP)
    assert wait_for(lambda: httpx.get(m.url + "/").json()["backend"] == "b2")

    cfg.write_text("[[listeners]]\naddress = 'nope'\n")
    m.proc.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    assert httpx.get(m.url + "/").json()["backend"] == "b2"  # still the old config
    _, _, err = m.stop()
    assert "reload rejected: listeners[0].address" in err
    assert "reload rejected: clusters: required key is missing" in err


def test_reload_under_load_loses_no_request(start_meshlb, backends, tmp_path) -> None:
    port = free_port()
    cfg = tmp_path / "m.toml"
    write_config(cfg, port, backends[0])
    m = start_meshlb("run", "-c", str(cfg), port=port)
    failures: list[str] = []
    done = threading.Event()
    sent = [0]

    def load() -> None:
        with httpx.Client(base_url=m.url, timeout=5) as client:
            while not done.is_set() and sent[0] < 3000:
                try:
                    r = client.get(f"/{sent[0]}")
                    if r.status_code != 200:
                        failures.append(f"{r.status_code} {r.text}")
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))
                sent[0] += 1

    workers = [threading.Thread(target=load) for _ in range(4)]
    for w in workers:
        w.start()
    for i in range(6):
        time.sleep(0.15)
        write_config(cfg, port, backends[i % 3])
        m.proc.send_signal(signal.SIGHUP)
    time.sleep(0.3)
    done.set()
    for w in workers:
        w.join()
    assert sent[0] > 100
    assert failures == []
    assert sum(len(b.requests) for b in backends) == sent[0]
    assert all(b.requests for b in backends)


def test_meshlb_reload_command_uses_the_admin_api(start_meshlb, backends, tmp_path) -> None:
    import subprocess
    import sys

    port, admin_port = free_port(), free_port()
    cfg = tmp_path / "m.toml"
    admin = f'[admin]\naddress = "127.0.0.1:{admin_port}"\n'
    write_config(cfg, port, backends[0], admin)
    m = start_meshlb("run", "-c", str(cfg), port=port)
    write_config(cfg, port, backends[2], admin)
    ok = subprocess.run(
        [sys.executable, "-m", "meshlb", "reload", "--admin", f"127.0.0.1:{admin_port}"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert ok.returncode == 0, ok.stderr
    assert httpx.get(m.url + "/").json()["backend"] == "b3"
    cfg.write_text(cfg.read_text() + "bogus = 1\n")
    bad = subprocess.run(
        [sys.executable, "-m", "meshlb", "reload", "--admin", f"127.0.0.1:{admin_port}"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert bad.returncode == 1 and "bogus: unknown key" in bad.stderr
