"""EndpointSet: the one owner of endpoint state, with a fake clock."""

from __future__ import annotations

import logging

import pytest

from meshlb.balance.options import BalancerOptions
from meshlb.cluster.endpoints import MAX_RETRY_AFTER, EndpointSet
from meshlb.errors import Failure
from meshlb.health.config import OutlierConfig
from meshlb.health.outcome import Fault, fault_of
from meshlb.model import Endpoint, Snapshot


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make(
    n: int = 3,
    outlier: OutlierConfig | None = None,
    **options: float,
) -> tuple[EndpointSet, list[Endpoint], list[Snapshot], Clock]:
    clock = Clock()
    eps = [Endpoint("web", "127.0.0.1", 9001 + i) for i in range(n)]
    opts = BalancerOptions(**options)  # type: ignore[arg-type]
    es = EndpointSet("web", eps, options=opts, outlier=outlier, clock=clock)
    seen: list[Snapshot] = []
    es.subscribe(seen.append)
    return es, eps, seen, clock


def eject(es: EndpointSet, e: Endpoint, now: float) -> None:
    for _ in range(3):  # default consecutive_gateway_failure
        es.record(e, Fault.CONNECT, 0.001, now)


def test_a_new_set_has_every_endpoint_eligible_and_subscribers_get_it_at_once() -> None:
    es, eps, seen, _ = make()
    assert seen == [es.snapshot]
    assert es.snapshot.eligible == tuple(eps) and es.snapshot.weights == (1.0, 1.0, 1.0)
    assert es.find("127.0.0.1:9002") is eps[1]
    assert es.find("127.0.0.1:1") is None
    assert repr(es) == "<EndpointSet web v1 3/3 eligible>"


def test_draining_takes_an_endpoint_out_notifies_and_says_why(
    caplog: pytest.LogCaptureFixture,
) -> None:
    es, eps, seen, _ = make()
    with caplog.at_level(logging.INFO, logger="meshlb.health"):
        es.set_draining(eps[0], True, "admin")
        es.set_draining(eps[0], True, "admin again")  # no change: no rebuild, no log
    assert len(seen) == 2 and seen[-1].eligible == tuple(eps[1:])
    assert eps[0].last_reason == "draining: admin"
    assert [r.getMessage() for r in caplog.records] == [
        "cluster web: 127.0.0.1:9001 draining: admin"
    ]
    es.set_draining(eps[0], False, "admin")
    assert seen[-1].eligible == tuple(eps)


def test_active_health_failure_and_recovery_with_slow_start() -> None:
    es, eps, seen, clock = make(slow_start_window=10.0)
    es.set_active_health(eps[2], False, "HTTP 503 (expected 200-399)", clock.now)
    assert seen[-1].eligible == tuple(eps[:2])
    assert eps[2].last_reason == "failed active health checks: HTTP 503 (expected 200-399)"
    es.set_active_health(eps[2], True, "HTTP 200", 2000.0)
    assert eps[2].healthy_since == 2000.0
    assert seen[-1].eligible == tuple(eps)
    assert seen[-1].weights[2] == pytest.approx(0.1)  # slow start floor: 10 %
    versions = len(seen)
    es.tick(2000.1)  # nothing due yet: no rebuild
    assert len(seen) == versions
    es.tick(2005.0)  # the ramp moved
    assert seen[-1].weights[2] == pytest.approx(0.5)
    es.tick(2010.0)
    assert seen[-1].weights[2] == 1.0


def test_gateway_failures_eject_and_the_snapshot_drops_the_endpoint(
    caplog: pytest.LogCaptureFixture,
) -> None:
    es, eps, seen, _ = make()
    with caplog.at_level(logging.WARNING, logger="meshlb.health"):
        eject(es, eps[0], 1000.0)
    assert seen[-1].eligible == tuple(eps[1:])
    assert eps[0].ejected_until == 1030.0 and eps[0].ejection_count == 1
    assert eps[0].last_reason == (
        "ejected for 30s (ejection #1): 3 consecutive gateway failures (last: connect failure)"
    )
    assert len(caplog.records) == 1 and caplog.records[0].levelno == logging.WARNING


def test_a_local_resource_failure_never_ejects_the_endpoint() -> None:
    es, eps, seen, _ = make()
    for i in range(20):
        es.record(eps[0], fault_of(Failure.LOCAL_RESOURCE), 0.0, 1000.0 + i)
    assert eps[0].ejected_until == 0.0 and eps[0].ejection_count == 0
    assert seen[-1].eligible == tuple(eps)


def test_successes_rebuild_nothing() -> None:
    es, eps, seen, _ = make()
    for i in range(1000):
        es.record(eps[i % 3], 200, 0.002, 1000.0 + i / 1000)
    assert len(seen) == 1


def test_an_expired_ejection_admits_one_probe_whose_success_readmits_with_slow_start() -> None:
    es, eps, seen, _ = make(slow_start_window=10.0)
    eject(es, eps[0], 1000.0)
    es.tick(1029.9)
    assert eps[0] not in seen[-1].eligible
    es.tick(1030.0)
    assert eps[0] in seen[-1].eligible
    assert eps[0].last_reason.startswith("half-open: ejection over after 30s")
    assert es.admit(eps[1], 1030.0)
    assert es.admit(eps[0], 1030.0)
    assert not es.admit(eps[0], 1030.01)  # the one probe is in flight
    es.record(eps[0], 200, 0.003, 1030.1)
    assert eps[0].last_reason == "readmitted: probe request succeeded"
    assert eps[0].healthy_since == 1030.1
    assert seen[-1].weights[0] == pytest.approx(0.1)
    assert es.admit(eps[0], 1030.2)


def test_a_failed_probe_ejects_again_for_longer() -> None:
    es, eps, seen, _ = make()
    eject(es, eps[0], 1000.0)
    es.tick(1030.0)
    assert es.admit(eps[0], 1030.0)
    es.record(eps[0], 503, 0.003, 1030.5)
    assert eps[0] not in seen[-1].eligible
    assert eps[0].ejected_until == 1030.5 + 60.0 and eps[0].ejection_count == 2


def test_losing_most_endpoints_puts_the_cluster_in_panic() -> None:
    es, eps, seen, clock = make(n=3)
    es.set_active_health(eps[0], False, "down", clock.now)
    es.set_active_health(eps[1], False, "down", clock.now)
    assert seen[-1].panic and seen[-1].eligible == tuple(eps)
    assert repr(es).endswith("3/3 eligible PANIC>")


def test_the_ejection_cap_keeps_half_the_cluster() -> None:
    es, eps, seen, _ = make(n=5)
    for e in eps:
        eject(es, e, 1000.0)
    assert len(seen[-1].eligible) == 3 and not seen[-1].panic
    assert es.outlier is not None and es.outlier.refused_by_cap > 0


def test_an_active_check_recovery_ends_a_passive_ejection() -> None:
    es, eps, seen, _ = make()
    eject(es, eps[0], 1000.0)
    es.set_active_health(eps[0], False, "connection refused", 1001.0)
    es.set_active_health(eps[0], True, "HTTP 200", 1003.0)
    assert eps[0].ejected_until == 0.0 and eps[0] in seen[-1].eligible


def test_active_rise_unejects_can_be_turned_off() -> None:
    es, eps, seen, _ = make(outlier=OutlierConfig(active_rise_unejects=False))
    eject(es, eps[0], 1000.0)
    es.set_active_health(eps[0], False, "connection refused", 1001.0)
    es.set_active_health(eps[0], True, "HTTP 200", 1003.0)
    assert eps[0] not in seen[-1].eligible


def test_outlier_detection_can_be_disabled() -> None:
    es, eps, seen, _ = make(outlier=OutlierConfig(enabled=False))
    for _ in range(100):
        es.record(eps[0], Fault.CONNECT, 0.0, 1000.0)
    assert len(seen) == 1 and es.outlier is None
    assert es.admit(eps[0], 1000.0)


def test_retry_after_keeps_an_endpoint_aside_for_a_bounded_time() -> None:
    es, eps, seen, _ = make()
    es.record(eps[1], 503, 0.001, 1000.0, retry_after=5.0)
    assert eps[1].retry_after_until == 1005.0
    es.record(eps[2], 429, 0.001, 1000.0, retry_after=86400.0)
    assert eps[2].retry_after_until == 1000.0 + MAX_RETRY_AFTER
    assert len(seen) == 1  # `select` reads retry_after_until per request: no rebuild


def test_tick_is_a_single_comparison_when_nothing_is_due() -> None:
    es, eps, seen, _ = make()
    for i in range(100):
        es.tick(1000.0 + i * 0.05)
    assert len(seen) == 1


def test_the_outlier_interval_runs_from_tick() -> None:
    es, eps, seen, _ = make(n=4)
    for e in eps[:3]:
        for _ in range(30):
            es.record(e, 200, 0.020, 1001.0)
    for _ in range(30):
        es.record(eps[3], 200, 0.500, 1001.0)
    es.tick(1010.0)
    assert eps[3] not in seen[-1].eligible
    assert "p90 latency 500.0 ms > 3 x median 20.0 ms" in eps[3].last_reason


def test_describe_shows_flags_and_reasons() -> None:
    es, eps, _, _ = make(n=4, slow_start_window=10.0)
    eject(es, eps[0], 1000.0)
    es.set_draining(eps[1], True, "maintenance", 1000.0)
    es.set_active_health(eps[2], False, "down", 1000.0)
    es.set_active_health(eps[2], True, "HTTP 200", 1001.0)
    rows = {row["address"]: row for row in es.describe(1002.0)}
    ejected = rows["127.0.0.1:9001"]
    assert ejected["ejected"] == {
        "count": 1,
        "until": 28.0,
        "reason": "3 consecutive gateway failures (last: connect failure)",
    }
    assert not ejected["healthy"] and not ejected["eligible"] and not ejected["failed_active_check"]
    assert rows["127.0.0.1:9002"]["draining"] and not rows["127.0.0.1:9002"]["eligible"]
    ramping = rows["127.0.0.1:9003"]
    assert ramping["healthy"] and ramping["eligible"] and ramping["slow_start"] == 9.0
    assert ramping["last_reason"] == "passed active health checks: HTTP 200"
    assert set(ramping) >= {"weight", "effective_weight", "half_open", "retry_after"}
    assert ramping["last_change"] >= ejected["last_change"] > 1e9  # unix time
