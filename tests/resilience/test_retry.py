"""Retry decisions, backoff bounds, Retry-After parsing and the retry budget."""

from __future__ import annotations

import calendar
import random
import re
from typing import Any

import msgspec
import pytest

from meshlb.config.load import _dec_hook
from meshlb.errors import Failure
from meshlb.health.outcome import Fault
from meshlb.resilience.config import RetryConfig
from meshlb.resilience.retry import RetryBudget, RetryPolicy, parse_retry_after

RNG = random.Random(7)


def policy(**raw: Any) -> RetryPolicy:
    return RetryPolicy(msgspec.convert(raw, RetryConfig, dec_hook=_dec_hook))


def decide(p: RetryPolicy, outcome: Failure | int, **kw: Any) -> tuple[float | None, str]:
    args: dict[str, Any] = {
        "attempt": 1,
        "method": b"GET",
        "body_replayable": True,
        "response_started": False,
        "retry_after": None,
        "rng": RNG,
    }
    args.update(kw)
    return p.decide(outcome, **args)


# the defaults ------------------------------------------------------------------------------


def test_by_default_a_connect_failure_is_retried_once_whatever_the_method() -> None:
    p = policy()
    for method in (b"GET", b"POST", b"PATCH"):
        delay, why = decide(p, Fault.CONNECT, method=method)
        assert delay is not None and 0.0 <= delay < 0.025
        assert why == "retry 1 of 1 after connect failure"
    delay, why = decide(p, Fault.CONNECT, attempt=2)
    assert delay is None and why == "not retried after connect failure: retries exhausted (1)"


def test_by_default_a_reset_is_retried_only_for_idempotent_methods() -> None:
    p = policy()
    assert decide(p, Fault.RESET, method=b"PUT")[0] is not None
    delay, why = decide(p, Fault.RESET, method=b"POST")
    assert delay is None
    assert why == (
        "not retried after reset: POST is not idempotent and the upstream may have processed it "
        "(retry_non_idempotent is off)"
    )
    assert decide(policy(retry_non_idempotent=True), Fault.RESET, method="POST")[0] is not None


def test_a_per_try_timeout_counts_as_a_reset() -> None:
    assert decide(policy(), Fault.TIMEOUT)[0] is not None
    assert decide(policy(retry_on=["connect-failure"]), Fault.TIMEOUT)[0] is None


def test_failures_from_the_error_enum_are_understood() -> None:
    p = policy()
    assert decide(p, Failure.CONNECT_REFUSED, method=b"POST")[0] is not None
    assert decide(p, Failure.CONNECT_TIMEOUT)[0] is not None
    assert decide(p, Failure.RESET)[0] is not None
    never = (None, "not retried: invalid response is never retried")
    assert decide(p, Failure.BAD_RESPONSE) == never
    assert decide(p, Failure.NO_ENDPOINT)[0] is None


def test_a_local_resource_failure_is_never_retried_and_says_whose_it_is() -> None:
    p = policy(retry_on=["5xx"], retries=3)
    assert decide(p, Failure.LOCAL_RESOURCE) == (
        None,
        "not retried: the failure is meshlb's, not the upstream's",
    )


def test_statuses_are_not_retried_by_default() -> None:
    assert decide(policy(), 503) == (None, "not retried: 503 is not in retry_on")


def test_nothing_is_retried_once_the_response_started() -> None:
    delay, why = decide(policy(), Fault.RESET, response_started=True)
    assert delay is None and why.startswith("not retried: the response to the client had started")


def test_a_body_that_was_not_kept_cannot_be_replayed() -> None:
    delay, why = decide(policy(), Fault.CONNECT, body_replayable=False)
    assert why == "not retried after connect failure: the request body exceeded replay_buffer"


# retry_on ------------------------------------------------------------------------------------


def test_gateway_error_covers_502_503_504_connect_failures_and_resets() -> None:
    p = policy(retry_on=["gateway-error"], retries=3)
    for outcome in (502, 503, 504, Fault.CONNECT, Fault.RESET, Fault.REFUSED_STREAM):
        assert decide(p, outcome)[0] is not None, outcome
    assert decide(p, 500)[0] is None
    assert decide(p, 404)[0] is None


def test_5xx_covers_every_server_error() -> None:
    p = policy(retry_on=["5xx"])
    for outcome in (500, 501, 503, 599, Fault.CONNECT, Fault.TIMEOUT):
        assert decide(p, outcome)[0] is not None, outcome


def test_retriable_status_codes() -> None:
    p = policy(retry_on=["retriable-status-codes"], retriable_status_codes=[409, 503])
    assert decide(p, 409)[0] is not None
    assert decide(p, 503)[0] is not None
    assert decide(p, 502)[0] is None
    assert decide(p, Fault.CONNECT)[0] is None


def test_status_based_retries_still_respect_idempotency() -> None:
    p = policy(retry_on=["gateway-error"])
    assert decide(p, 503, method=b"POST")[0] is None


def test_retriable_status_tells_the_data_path_which_heads_to_hold_back() -> None:
    assert not policy().retriable_status(503)
    assert not policy().retriable_status(200)
    gateway = policy(retry_on=["gateway-error"])
    assert gateway.retriable_status(503) and not gateway.retriable_status(500)
    codes = policy(retry_on=["retriable-status-codes"], retriable_status_codes=[409])
    assert codes.retriable_status(409) and not codes.retriable_status(503)


def test_a_refused_stream_was_not_processed_so_any_method_goes() -> None:
    assert decide(policy(), Fault.REFUSED_STREAM, method=b"POST")[0] is not None


# backoff -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempt", "ceiling"), [(1, 0.025), (2, 0.05), (3, 0.1), (4, 0.2), (9, 0.25)]
)
def test_backoff_is_full_jitter_under_an_exponential_ceiling(attempt: int, ceiling: float) -> None:
    p = policy()
    rng = random.Random(attempt)
    delays = [p.backoff(attempt, rng) for _ in range(2000)]
    assert all(0.0 <= d < ceiling for d in delays)
    assert max(delays) > 0.95 * ceiling and min(delays) < 0.05 * ceiling
    assert sum(delays) / len(delays) == pytest.approx(ceiling / 2, rel=0.1)


def test_retry_after_raises_the_delay_up_to_max_interval() -> None:
    p = policy(retry_on=["gateway-error"], base_interval="1ms", max_interval="2s")
    delay, _ = decide(p, 503, retry_after=1.5)
    assert delay == 1.5
    delay, _ = decide(p, 503, retry_after=3600.0)
    assert delay == 2.0
    delay, _ = decide(p, 503, retry_after=0.0)
    assert delay is not None and delay < 0.001


# Retry-After ---------------------------------------------------------------------------------

NOW = float(calendar.timegm((1994, 11, 6, 8, 49, 0, 0, 0, 0)))


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (b" 5 ", 5.0),
        ("0", 0.0),
        ("Sun, 06 Nov 1994 08:49:37 GMT", 37.0),  # IMF-fixdate
        ("Sunday, 06-Nov-94 08:49:37 GMT", 37.0),  # obsolete RFC 850
        ("Sun Nov  6 08:49:37 1994", 37.0),  # asctime
        ("Sun, 06 Nov 1994 08:48:00 GMT", 0.0),  # in the past: now
    ],
)
def test_retry_after_accepts_delta_seconds_and_every_http_date_format(
    value: str | bytes, seconds: float
) -> None:
    assert parse_retry_after(value, NOW) == seconds


@pytest.mark.parametrize("value", ["", "soon", "-3", "1.5", "Sun, 32 Nov 1994 08:49:37 GMT"])
def test_invalid_retry_after_values_are_ignored(value: str) -> None:
    assert parse_retry_after(value, NOW) is None


# budget and config ---------------------------------------------------------------------------


def test_the_budget_allows_a_floor_of_retries_in_flight_whatever_the_traffic() -> None:
    budget = RetryBudget(20.0, 3)
    assert budget.allows(active_retries=2)
    assert not budget.allows(active_retries=3)


def test_the_budget_is_a_share_of_the_requests_of_the_window() -> None:
    budget = RetryBudget(20.0, 0, window=10.0, now=0.0)
    for _ in range(100):
        budget.on_request()
    granted = 0
    while budget.allows(active_retries=granted):
        budget.on_retry()
        granted += 1
    assert granted == 20
    assert repr(budget) == "<RetryBudget 20% of 10s +0/s min=0 requests=100 retries=20>"


def test_the_reserve_adds_retries_a_second_over_the_window() -> None:
    budget = RetryBudget(20.0, 0, window=10.0, min_per_second=1.0)
    granted = 0
    while budget.allows(active_retries=granted):
        budget.on_retry()
        granted += 1
    assert granted == 10


def test_a_burst_of_retries_is_paid_from_earlier_traffic() -> None:
    budget = RetryBudget(20.0, 3, window=10.0, now=0.0)
    for second in range(5):  # steady traffic: 100 requests a second, no retries
        budget.advance(float(second))
        for _ in range(100):
            budget.on_request()
    burst = 0
    while budget.allows(active_retries=burst):  # then 100 retries at once (a black hole)
        budget.on_retry()
        burst += 1
    assert burst == 100


def test_the_window_forgets_old_requests_and_retries() -> None:
    budget = RetryBudget(20.0, 0, window=10.0, now=0.0)
    for _ in range(50):
        budget.on_request()
    budget.advance(5.0)
    assert budget.allows(0)
    budget.advance(10.5)  # the first slot left the window
    assert not budget.allows(0)
    budget.advance(1000.0)  # a long idle gap is cheap and empties everything
    assert repr(budget).endswith("requests=0 retries=0>")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"base_interval": "1s", "max_interval": "100ms"}, "must not exceed retry.max_interval"),
        ({"retry_on": ["retriable-status-codes"]}, "no codes are given"),
        ({"retry_on": ["sometimes"]}, "Invalid enum value 'sometimes'"),
        ({"retries": 11}, "Expected `int` <= 10"),
        ({"retriable_status_codes": [99]}, "Expected `int` >= 100"),
        ({"hedge_after": "soon"}, 'expected "p95" or a duration like "50ms"'),
        ({"hedge_after": "p100"}, 'expected "p50" to "p99.9"'),
    ],
)
def test_invalid_retry_tables_are_rejected_with_a_reason(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=re.escape(message)):
        policy(**raw)


def test_defaults_and_repr() -> None:
    p = policy()
    assert p.retries == 1 and p.per_try_timeout == 0.0
    assert p.config.replay_buffer == 64 * 1024 and not p.config.retry_non_idempotent
    assert repr(p) == "<RetryPolicy retries=1 on=connect-failure,refused-stream,reset per_try=0s>"
