"""Routing around failed blocks, end to end: meshlb in front of three fault backends.

Each test runs the real `python -m meshlb run` against child-process backends
(`tests/faults.py`) that die by SIGKILL, black-hole, answer 503 or reset, while a small
threaded client keeps requests flowing and records every one of them.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Meshlb, free_port
from tests.faults import FaultProcess


@dataclass
class Result:
    start: float
    latency: float
    status: int  # 0: the client got no response at all
    node: str = ""
    error: str = ""


@dataclass
class Load:
    """`threads` clients sending GETs back to back (keep-alive) until stopped."""

    url: str
    threads: int = 6
    results: list[Result] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)

    def __enter__(self) -> Load:
        for i in range(self.threads):
            worker = threading.Thread(target=self._run, args=(i,), daemon=True)
            worker.start()
            self._workers.append(worker)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(15)

    def _run(self, i: int) -> None:
        with httpx.Client(base_url=self.url, timeout=3.0) as client:
            n = 0
            while not self._stop.is_set():
                n += 1
                start = time.monotonic()
                try:
                    r = client.get(f"/load/{i}/{n}")
                    node = r.json().get("node", "") if r.status_code == 200 else ""
                    result = Result(start, time.monotonic() - start, r.status_code, node)
                except httpx.HTTPError as exc:
                    result = Result(start, time.monotonic() - start, 0, error=repr(exc))
                self.results.append(result)

    def between(self, t0: float, t1: float) -> list[Result]:
        return [r for r in self.results if t0 <= r.start < t1]


def failed(results: list[Result]) -> list[Result]:
    return [r for r in results if r.status != 200]


def p99(results: list[Result]) -> float:
    latencies = sorted(r.latency for r in results)
    return latencies[max(0, int(len(latencies) * 0.99) - 1)]


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> float:
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)
    return time.monotonic()


@pytest.fixture
def faults() -> Iterator[list[FaultProcess]]:
    started = [FaultProcess(f"b{i}") for i in range(1, 4)]
    yield started
    for backend in started:
        backend.stop()


def quick(start_meshlb: Callable[..., Meshlb], faults: list[FaultProcess], *extra: str) -> Meshlb:
    args = ["run", "--listen", "AUTO"]
    for backend in faults:
        args += ["--upstream", backend.address]
    return start_meshlb(*args, *extra)


def with_config(
    start_meshlb: Callable[..., Meshlb], tmp_path: Path, faults: list[FaultProcess], body: str
) -> Meshlb:
    port = free_port()
    endpoints = ", ".join(f'"{b.address}"' for b in faults)
    path = tmp_path / "meshlb.toml"
    path.write_text(
        f'[[listeners]]\naddress = "127.0.0.1:{port}"\n\n'
        f"[clusters.app]\nendpoints = [{endpoints}]\n{body}"
    )
    return start_meshlb("run", "-c", str(path), port=port)


def test_sigkill_of_one_backend_mid_load_fails_no_get(
    start_meshlb: Callable[..., Meshlb], faults: list[FaultProcess]
) -> None:
    proxy = quick(start_meshlb, faults)
    with Load(proxy.url) as load:
        time.sleep(0.7)
        killed_at = time.monotonic()
        faults[1].kill()
        time.sleep(2.0)
    assert len(load.between(killed_at, killed_at + 2.0)) > 200
    assert failed(load.results) == []
    after = load.between(killed_at + 0.2, killed_at + 2.0)
    assert {r.node for r in after} == {"b1", "b3"}


def test_a_black_holed_backend_costs_no_get_and_at_most_the_per_try_timeout(
    start_meshlb: Callable[..., Meshlb], tmp_path: Path, faults: list[FaultProcess]
) -> None:
    proxy = with_config(
        start_meshlb, tmp_path, faults, '[clusters.app.retry]\nper_try_timeout = "300ms"\n'
    )
    with Load(proxy.url) as load:
        time.sleep(0.5)
        faults[1].set_mode("blackhole")
        since = time.monotonic()
        time.sleep(2.5)
    during = load.between(since, since + 2.5)
    assert failed(load.results) == []
    assert p99(during) < 0.3 + 0.15  # one per-try timeout, one backoff, a little slack
    settled = load.between(since + 1.5, since + 2.5)  # ejected by then: no more timeouts
    assert max(r.latency for r in settled) < 0.3
    assert {r.node for r in settled} == {"b1", "b3"}


def test_a_backend_answering_503_is_ejected_within_5_requests(
    start_meshlb: Callable[..., Meshlb], faults: list[FaultProcess]
) -> None:
    faults[1].set_mode("503")
    proxy = quick(start_meshlb, faults)
    with httpx.Client(base_url=proxy.url) as client:
        statuses = [client.get(f"/seq/{i}").status_code for i in range(60)]
    assert faults[1].stats()["requests"] <= 5
    assert statuses.count(503) <= 5
    assert set(statuses[20:]) == {200}  # the traffic moved to b1 and b3


def test_a_killed_backend_is_readmitted_after_rise_checks_with_slow_start(
    start_meshlb: Callable[..., Meshlb], tmp_path: Path, faults: list[FaultProcess]
) -> None:
    interval, rise = 0.2, 2
    proxy = with_config(
        start_meshlb,
        tmp_path,
        faults,
        "lb.slow_start_window = 3.0\n"
        "[clusters.app.health]\n"
        f'interval = "{interval}s"\ntimeout = "150ms"\njitter = 0.0\n'
        f'rise = {rise}\nfall = 2\nhttp.path = "/healthz"\n',
    )
    with Load(proxy.url, threads=4) as load:
        time.sleep(0.5)
        faults[1].kill()
        time.sleep(1.0)
        faults[1].restart()
        restarted = time.monotonic()
        back = wait_for(
            lambda: any(r.node == "b2" and r.start >= restarted for r in load.results[-200:])
        )
        time.sleep(4.0)
    assert failed(load.results) == []
    assert back - restarted < rise * interval + 0.6  # checks every 0.2 s, 2 passes needed
    early = load.between(back, back + 0.5)
    late = load.between(back + 3.2, back + 4.0)
    share_early = sum(r.node == "b2" for r in early) / len(early)
    share_late = sum(r.node == "b2" for r in late) / len(late)
    assert share_early < 0.2 < 0.27 < share_late  # ramping up from ~10 % to a third


def test_with_every_backend_down_the_client_gets_a_fast_503_with_a_reason(
    start_meshlb: Callable[..., Meshlb], faults: list[FaultProcess]
) -> None:
    proxy = quick(start_meshlb, faults)
    for backend in faults:
        backend.kill()
    with httpx.Client(base_url=proxy.url, timeout=10.0) as client:
        for i in range(20):
            start = time.monotonic()
            r = client.get(f"/down/{i}")
            assert time.monotonic() - start < 0.5
            assert r.status_code == 503
            assert r.headers.get("x-meshlb-reason")
            assert r.text.strip()


def test_a_post_whose_body_was_sent_is_not_retried_and_the_access_log_says_why(
    start_meshlb: Callable[..., Meshlb], tmp_path: Path, faults: list[FaultProcess]
) -> None:
    log = tmp_path / "access.log"
    for backend in faults[:2]:
        backend.set_mode("reset")  # read the whole request, then reset without a byte
    proxy = quick(start_meshlb, faults[:2], "--access-log", str(log))
    post = httpx.post(proxy.url + "/orders", content=b'{"item": 1}')
    get = httpx.get(proxy.url + "/orders")
    assert post.status_code == 502 and get.status_code == 502
    assert sum(b.stats()["requests"] for b in faults[:2]) == 1 + 2  # POST once, GET twice

    def entries() -> list[dict[str, object]]:
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    wait_for(lambda: len(entries()) >= 2)
    by_method = {e["method"]: e for e in entries()}
    post_entry, get_entry = by_method["POST"], by_method["GET"]
    assert post_entry["status"] == 502 and post_entry["attempts"] == 1
    reason = str(post_entry["reason"])
    assert "not retried" in reason and "POST is not idempotent" in reason
    assert get_entry["attempts"] == 2


def test_retry_on_gateway_error_hides_a_503_from_the_client(start_meshlb, tmp_path) -> None:
    from tests.e2e.conftest import free_port
    from tests.faults import FaultThread

    bad, good = FaultThread("bad"), FaultThread("good")
    try:
        bad.set_mode("503", retry_after=0)
        port = free_port()
        cfg = tmp_path / "retry.toml"
        cfg.write_text(
            f"""
[[listeners]]
address = "127.0.0.1:{port}"
[clusters.app]
endpoints = ["{bad.address}", "{good.address}"]
outlier.enabled = false
[clusters.app.retry]
retry_on = ["gateway-error"]
base_interval = "1ms"
max_interval = "5ms"
"""
        )
        m = start_meshlb("run", "-c", str(cfg), port=port)
        with httpx.Client(base_url=m.url) as client:
            replies = [client.get(f"/{i}") for i in range(10)]
        assert [r.status_code for r in replies] == [200] * 10
        assert all(r.json()["node"] == "good" for r in replies)
        assert bad.stats()["requests"] >= 4  # round robin kept trying it; each was retried
    finally:
        bad.stop()
        good.stop()
