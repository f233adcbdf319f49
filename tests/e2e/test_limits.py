"""Resource limits end to end: connections, the pending queue and its timeout, active requests."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx

from tests.e2e.backends import Backend
from tests.e2e.conftest import free_port


def run_concurrently(url: str, paths: list[str]) -> list[httpx.Response]:
    results: list[httpx.Response] = [None] * len(paths)  # type: ignore[list-item]

    def get(i: int) -> None:
        results[i] = httpx.get(url + paths[i], timeout=10)

    threads = [threading.Thread(target=get, args=(i,)) for i in range(len(paths))]
    for t in threads:
        t.start()
        time.sleep(0.05)  # arrive in order
    for t in threads:
        t.join()
    return results


def start(start_meshlb, tmp_path: Path, backend: Backend, limits: str) -> str:
    port = free_port()
    cfg = tmp_path / "limits.toml"
    cfg.write_text(
        f"""
[[listeners]]
address = "127.0.0.1:{port}"
[clusters.app]
endpoints = ["{backend.address}"]
[clusters.app.limits]
{limits}
"""
    )
    return start_meshlb("run", "-c", str(cfg), port=port).url


def test_a_full_pool_queues_then_overflows_with_503(start_meshlb, backends, tmp_path) -> None:
    url = start(
        start_meshlb,
        tmp_path,
        backends[0],
        'max_connections = 1\nmax_pending_requests = 2\npending_timeout = "5s"',
    )
    results = run_concurrently(url, ["/delay/400"] * 4)
    codes = [r.status_code for r in results]
    assert codes.count(200) == 3, codes  # one on the connection, two waited for it
    (overflow,) = [r for r in results if r.status_code == 503]
    assert overflow.headers["x-meshlb-reason"] == "overflow"
    assert backends[0].state.connections == 1  # the limit held: one upstream connection


def test_a_waiter_gives_up_after_the_pending_timeout(start_meshlb, backends, tmp_path) -> None:
    url = start(
        start_meshlb, tmp_path, backends[0], 'max_connections = 1\npending_timeout = "200ms"'
    )
    t0 = time.monotonic()
    first, second = run_concurrently(url, ["/delay/1000", "/delay/0"])
    assert first.status_code == 200
    assert second.status_code == 503 and "overflow" in second.headers["x-meshlb-reason"]
    assert time.monotonic() - t0 < 1.5


def test_max_requests_caps_requests_in_flight(start_meshlb, backends, tmp_path) -> None:
    url = start(start_meshlb, tmp_path, backends[0], "max_requests = 2")
    codes = sorted(r.status_code for r in run_concurrently(url, ["/delay/400"] * 3))
    assert codes == [200, 200, 503]
    assert httpx.get(url + "/after").status_code == 200  # slots come back
