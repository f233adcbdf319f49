"""`meshlb demo`: the README's first command works and routes to every demo block."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.e2e.conftest import free_port, wait_port

ROOT = Path(__file__).resolve().parents[2]


def test_demo_serves_compute_assets_and_mail_then_stops_on_ctrl_c() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "meshlb", "demo", "--listen", f"127.0.0.1:{port}"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_port(port)
        url = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=url) as client:
            nodes = {client.get("/hello").json()["node"] for _ in range(6)}
            assert nodes == {"compute-1", "compute-2", "compute-3"}
            logo = client.get("/assets/logo.svg")
            assert logo.status_code == 200 and logo.text.startswith("<svg")
            assert logo.headers["x-node"] == "assets-1"
            sent = client.post("/mail/send", json={"to": "ops@example.com"})
            assert sent.status_code == 202 and sent.json()["queued"] is True
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    text = out.decode()
    assert f"curl -s http://127.0.0.1:{port}/hello" in text
    # the access log is on in the demo: one JSON line per request
    assert text.count('"route":"compute"') == 6
    assert '"route":"assets"' in text and '"route":"mail-api"' in text
