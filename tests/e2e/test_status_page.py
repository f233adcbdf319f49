"""The status page in headless Chromium, served by a real AdminServer with changing data."""

from __future__ import annotations

import asyncio
import re
import struct
from pathlib import Path

import pytest

from meshlb.admin.server import AdminServer
from meshlb.config.schema import AdminConfig
from tests.admin.fakes import FakeControl, sample_snapshot, steady_traffic

CHROMIUM = Path("/usr/bin/chromium")

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"
)

# markup in a reason (probe output can carry upstream text) must show as text
HOSTILE_REASON = '<img src=x onerror="document.title=1">http: status 503'


async def chromium(profile: Path, *args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=5000",  # page time: the script polls stats.json ~3 times
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode(errors="replace")[-2000:]
    return out.decode()


def figure(dom: str, cluster: str, name: str) -> str:
    m = re.search(rf'data-cluster="{cluster}">.*?<b class="{name}">([^<]*)</b>', dom, re.S)
    assert m is not None, f"no {name} for {cluster}"
    return m.group(1)


def test_the_page_shows_live_clusters_and_endpoints_by_state(tmp_path: Path) -> None:
    snapshot = sample_snapshot()
    snapshot.clusters[0].endpoints[2].last_reason = HOSTILE_REASON
    control = FakeControl(snapshot, traffic=steady_traffic)  # +1 s and 100 requests a poll
    screenshot = tmp_path / "status-page.png"

    async def go() -> str:
        server = AdminServer(control, AdminConfig(address="127.0.0.1:0"))
        await server.start()
        url = "http://{}:{}/".format(*server.address)
        try:
            dom = await chromium(tmp_path / "profile-dom", "--dump-dom", url)
            await chromium(
                tmp_path / "profile-shot",
                f"--screenshot={screenshot}",
                "--window-size=1280,900",
                url,
            )
        finally:
            await server.stop()
        return dom

    dom = asyncio.run(go())
    print(f"status page screenshot: {screenshot}")

    assert control.snapshots_taken >= 2, "the page did not refresh itself"
    assert '<span id="status" class="">live</span>' in dom
    sections = re.findall(r'<section class="cluster" data-cluster="([^"]+)">', dom)
    assert sections == ["compute", "assets"]
    rows = re.findall(r'<tr class="state-([a-z-]+)" data-endpoint="([^"]+)">', dom)
    assert rows == [
        ("healthy", "10.0.0.1:8000"),
        ("ejected", "10.0.0.2:8000"),
        ("failed-check", "10.0.0.3:8000"),
        ("draining", "10.0.0.4:8000"),
        ("slow-start", "10.0.0.5:8000"),
        ("healthy", "10.0.1.1:80"),
    ]
    assert "ejected (25s left)" in dom
    assert ">5 consecutive 5xx<" in dom
    assert "command #1: failed (2)" in dom
    # rates come from two polls: 100 requests (2 of them 5xx) per second, all in (10, 25] ms
    assert figure(dom, "compute", "rps") == "100.0"
    assert figure(dom, "compute", "error-rate") == "2.00%"
    assert figure(dom, "compute", "p99") == "24.9 ms"
    assert figure(dom, "assets", "p99") == "\u2013"  # no samples in the window
    assert "&lt;img src=x" in dom and "<img" not in dom

    png = screenshot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == (1280, 900)
