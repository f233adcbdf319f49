"""Hedging decisions: the latency quantile estimate, the hedge budget and the policy."""

from __future__ import annotations

import random
from typing import Any

import msgspec
import pytest

from meshlb.config.load import _dec_hook
from meshlb.resilience.config import RetryConfig
from meshlb.resilience.hedge import HedgeBudget, HedgePolicy, LatencyQuantile, parse_hedge_after


def config(**raw: Any) -> RetryConfig:
    return msgspec.convert(raw, RetryConfig, dec_hook=_dec_hook)


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("", ("off", 0.0)),
        ("p95", ("quantile", 95.0)),
        ("P99.9", ("quantile", 99.9)),
        ("50ms", ("fixed", 0.05)),
        (0.2, ("fixed", 0.2)),
    ],
)
def test_hedge_after_forms(value: str | float, parsed: tuple[str, float]) -> None:
    assert parse_hedge_after(value) == pytest.approx(parsed)


@pytest.mark.parametrize("value", ["p100", "p10", "px", "0s", "later", -1.0])
def test_invalid_hedge_after(value: str | float) -> None:
    with pytest.raises(ValueError):
        parse_hedge_after(value)


def test_the_quantile_estimate_is_within_a_bucket_of_the_truth() -> None:
    rng = random.Random(1)
    est = LatencyQuantile(window=10.0, min_samples=50)
    samples = [rng.lognormvariate(-4.0, 0.6) for _ in range(5000)]  # median ~18 ms
    for s in samples:
        est.observe(s, 1.0)
    truth = sorted(samples)[int(0.95 * len(samples)) - 1]
    p95 = est.quantile(95.0, 1.0)
    assert p95 is not None and truth <= p95 <= truth * 2 ** (1 / 8) * 1.01


def test_no_estimate_below_min_samples() -> None:
    est = LatencyQuantile(min_samples=50)
    for _ in range(49):
        est.observe(0.01, 1.0)
    assert est.quantile(95.0, 1.0) is None
    est.observe(0.01, 1.0)
    assert est.quantile(95.0, 1.0) is None  # cached for a second
    assert est.quantile(95.0, 2.5) is not None


def test_old_windows_are_forgotten() -> None:
    est = LatencyQuantile(window=10.0, min_samples=10)
    for _ in range(100):
        est.observe(1.0, 1.0)
    for _ in range(100):
        est.observe(0.001, 12.0)  # one rotation: the 1 s samples are still in `previous`
    assert est.count(12.0) == 200
    slow = est.quantile(99.0, 12.0)
    assert slow is not None and slow > 0.9
    for _ in range(100):
        est.observe(0.001, 23.0)  # second rotation: the 1 s samples are gone
    fast = est.quantile(99.0, 23.0)
    assert fast is not None and fast < 0.0015
    assert est.count(100.0) == 0  # idle for more than a window: everything is stale


def test_extreme_latencies_land_in_the_edge_buckets() -> None:
    est = LatencyQuantile(min_samples=1)
    est.observe(0.0, 1.0)
    est.observe(10_000.0, 1.0)
    low, high = est.quantile(1.0, 1.0), est.quantile(100.0, 1.0)
    assert low is not None and low < 0.0001
    assert high is not None and high > 100.0


def test_the_budget_allows_its_share_of_requests() -> None:
    budget = HedgeBudget(10.0)
    granted = 0
    for _ in range(1000):
        budget.on_request()
        granted += budget.try_spend()
    assert granted == 100 and budget.denied == 900


def test_the_budget_bursts_no_further_than_its_cap() -> None:
    budget = HedgeBudget(50.0, burst=3.0)
    for _ in range(100):
        budget.on_request()
    assert [budget.try_spend() for _ in range(4)] == [True, True, True, False]
    assert repr(budget) == "<HedgeBudget 50% tokens=0.00 hedges=3 denied=1>"


def test_a_fixed_policy_hedges_idempotent_replayable_requests_after_its_delay() -> None:
    policy = HedgePolicy(config(hedge_after="30ms", max_hedges=2))
    assert policy.enabled and policy.max_hedges == 2
    assert policy.delay(0.0) == pytest.approx(0.03)
    assert policy.allowed(b"GET", True)
    assert not policy.allowed(b"POST", True)
    assert not policy.allowed("GET", False)


def test_a_quantile_policy_waits_for_an_estimate() -> None:
    policy = HedgePolicy(config(hedge_after="p95"))
    assert policy.delay(0.0) is None
    assert policy.latency is not None
    for i in range(100):
        policy.latency.observe(0.010 if i < 95 else 0.5, 1.0)
    delay = policy.delay(1.0)
    assert delay is not None and 0.010 <= delay < 0.0115


def test_no_hedging_by_default() -> None:
    policy = HedgePolicy(config())
    assert not policy.enabled and policy.delay(1.0) is None
    assert not policy.allowed(b"GET", True)
