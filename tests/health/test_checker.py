"""HealthChecker end to end on 127.0.0.1: probes, rise/fall and the EndpointSet together."""

from __future__ import annotations

import asyncio
import errno
import time
from collections.abc import Callable, Iterator

import pytest

from meshlb.balance.options import BalancerOptions
from meshlb.cluster.endpoints import EndpointSet
from meshlb.config.units import Duration
from meshlb.health.checker import HealthChecker
from meshlb.health.config import HealthCheckConfig, HttpProbeConfig
from meshlb.health.probes import ProbeResult
from meshlb.model import Endpoint
from tests.faults import FaultThread

FAST = HealthCheckConfig(
    interval=Duration(0.05),
    timeout=Duration(0.5),
    jitter=0.0,
    rise=2,
    fall=2,
    http=HttpProbeConfig(path="/healthz"),
)


@pytest.fixture
def servers() -> Iterator[list[FaultThread]]:
    started = [FaultThread("a"), FaultThread("b")]
    yield started
    for server in started:
        server.stop()


def endpoint_set(servers: list[FaultThread]) -> EndpointSet:
    eps = [Endpoint("web", "127.0.0.1", s.port) for s in servers]
    return EndpointSet("web", eps, options=BalancerOptions(panic_threshold=0.0))


async def until(condition: Callable[[], bool], timeout: float = 3.0) -> float:
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)
    return time.monotonic() - start


def test_a_failing_endpoint_is_marked_down_and_back_up(servers: list[FaultThread]) -> None:
    es = endpoint_set(servers)
    a, b = es.endpoints

    async def scenario() -> None:
        checker = HealthChecker(es, FAST)
        await checker.start()
        try:
            await until(lambda: checker.checks >= 4)
            assert a.healthy and b.healthy
            servers[1].set_mode("503")
            took = await until(lambda: not b.healthy)
            assert took < 1.0
            assert b not in es.snapshot.eligible
            assert b.last_reason == "failed active health checks: HTTP 503 (expected 200-399)"
            servers[1].set_mode("normal")
            await until(lambda: b.healthy)
            assert b.healthy_since > 0 and b in es.snapshot.eligible
            assert b.last_reason == "passed active health checks: HTTP 200"
            assert a.healthy
        finally:
            await checker.stop()

        assert checker.results["failure"] >= 2 and checker.results["success"] >= 4

    asyncio.run(scenario())
    assert servers[0].stats()["health"] >= 4


def test_a_killed_listener_is_refused_and_detected(servers: list[FaultThread]) -> None:
    es = endpoint_set(servers)

    async def scenario() -> None:
        checker = HealthChecker(es, FAST)
        await checker.start()
        try:
            servers[0].set_mode("die")
            await until(lambda: not es.endpoints[0].healthy)
            assert es.endpoints[0].last_reason.endswith("connection refused")
        finally:
            await checker.stop()

    asyncio.run(scenario())


class OutOfDescriptors:
    """A probe that cannot even open its socket: this process is out of descriptors."""

    def __init__(self) -> None:
        self.calls = 0

    async def check(self, host: str, port: int) -> ProbeResult:
        self.calls += 1
        raise OSError(errno.EMFILE, "Too many open files")


def test_a_check_meshlb_could_not_make_says_nothing_of_the_endpoint(
    servers: list[FaultThread],
) -> None:
    es = endpoint_set(servers)

    async def scenario() -> None:
        probe = OutOfDescriptors()
        checker = HealthChecker(es, FAST, probe=probe)
        await checker.start()
        try:
            await until(lambda: probe.calls >= 3 * FAST.fall * len(es.endpoints))
            assert all(e.healthy for e in es.endpoints)
            assert (checker.checks, checker.failures) == (0, 0)
            assert checker.skipped >= probe.calls - len(es.endpoints)
        finally:
            await checker.stop()

    asyncio.run(scenario())


def test_initial_state_unhealthy_waits_for_the_first_passing_check(
    servers: list[FaultThread],
) -> None:
    es = endpoint_set(servers)
    config = HealthCheckConfig(
        interval=Duration(0.2), jitter=0.5, rise=3, initial_state="unhealthy"
    )

    async def scenario() -> None:
        checker = HealthChecker(es, config)
        await checker.start()
        try:
            assert not any(e.healthy for e in es.endpoints)
            assert es.snapshot.eligible == ()
            took = await until(lambda: all(e.healthy for e in es.endpoints))
            assert took < 0.5  # one success, within the first jitter window, is enough
        finally:
            await checker.stop()

    asyncio.run(scenario())


def test_a_checker_rebuilt_by_a_reload_keeps_what_endpoints_already_showed(
    servers: list[FaultThread],
) -> None:
    es = endpoint_set(servers)
    a, b = es.endpoints
    es.set_active_health(b, False, "HTTP 503", 1.0)  # seen failing before the reload
    config = HealthCheckConfig(interval=Duration(0.05), jitter=0.0, rise=2, fall=2)

    async def scenario() -> None:
        checker = HealthChecker(es, config)
        await checker.start()
        try:
            assert not checker.states[b].healthy and checker.states[a].healthy
            await until(lambda: b.healthy)  # b answers 200 now: two checks bring it back
        finally:
            await checker.stop()

    asyncio.run(scenario())


def test_stop_ends_every_check(servers: list[FaultThread]) -> None:
    es = endpoint_set(servers)

    async def scenario() -> None:
        checker = HealthChecker(es, FAST)
        await checker.start()
        await until(lambda: checker.checks >= 2)
        await checker.stop()
        done = checker.checks
        await asyncio.sleep(0.2)
        assert checker.checks == done
        assert "running=False" in repr(checker)

    asyncio.run(scenario())


def test_repr_reports_kind_interval_and_counts(servers: list[FaultThread]) -> None:
    checker = HealthChecker(endpoint_set(servers), FAST)
    assert repr(checker) == (
        "<HealthChecker web http every 0.05s endpoints=0 unhealthy=0 checks=0 failed=0 "
        "running=False>"
    )
