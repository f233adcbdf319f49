"""Resource limits: counters, overflow accounting, the pending queue and the retry budget."""

from __future__ import annotations

from typing import Any

import pytest

from meshlb.config.units import Duration
from meshlb.resilience.config import LimitsConfig
from meshlb.resilience.limits import ResourceLimits


def limits(**options: Any) -> ResourceLimits[str]:
    options.setdefault("min_retries_per_second", 0.0)  # exact budget arithmetic in tests
    return ResourceLimits(LimitsConfig(**options), "web")


def test_defaults_are_envoys() -> None:
    config = LimitsConfig()
    assert (config.max_connections, config.max_pending_requests, config.max_requests) == (
        1024,
        1024,
        1024,
    )
    assert config.max_retries == 0 and config.retry_budget_percent == 20.0
    assert config.retry_budget_window == 10.0 and config.min_retries_per_second == 10.0
    assert config.min_retry_concurrency == 3 and config.pending_timeout == 1.0


def test_requests_overflow_at_the_ceiling_and_are_counted() -> None:
    lim = limits(max_requests=2)
    assert lim.try_acquire_request() and lim.try_acquire_request()
    assert not lim.try_acquire_request()
    assert lim.overflow["max_requests"] == 1 and lim.requests == 2
    lim.release_request()
    assert lim.try_acquire_request()


def test_zero_means_no_limit() -> None:
    lim = limits(max_requests=0, max_connections=0, max_pending_requests=0, retry_budget_percent=0)
    assert all(lim.try_acquire_request() for _ in range(10_000))
    assert all(lim.try_acquire_connection() for _ in range(10_000))
    assert all(lim.enqueue(str(i), 1.0) for i in range(5_000))
    assert all(lim.try_acquire_retry() for _ in range(10_000))
    assert sum(lim.overflow.values()) == 0


def test_release_never_goes_below_zero() -> None:
    lim = limits()
    lim.release_request()
    lim.release_connection()
    lim.release_retry()
    assert (lim.requests, lim.connections, lim.retries) == (0, 0, 0)


def test_connection_slots_do_not_count_overflows_themselves() -> None:
    lim = limits(max_connections=1)
    assert lim.try_acquire_connection()
    assert not lim.try_acquire_connection()
    assert lim.overflow["max_connections"] == 0  # the caller parks the request instead


def test_with_few_requests_in_flight_the_budget_floor_applies() -> None:
    lim = limits(max_retries=0, retry_budget_percent=20.0, min_retry_concurrency=3)
    lim.try_acquire_request()
    assert [lim.try_acquire_retry() for _ in range(4)] == [True, True, True, False]
    assert lim.overflow["retry_budget"] == 1


def test_retries_need_both_max_retries_and_the_budget() -> None:
    lim = limits(max_retries=4, retry_budget_percent=20.0, min_retry_concurrency=3)
    for _ in range(10):  # budget: max(3, 20 % of 10) = 3
        lim.try_acquire_request()
    assert [lim.try_acquire_retry() for _ in range(4)] == [True, True, True, False]
    assert lim.overflow == lim.overflow | {"retry_budget": 1, "max_retries": 0}
    for _ in range(90):  # budget: 20 % of 100 = 20, but max_retries = 4
        lim.try_acquire_request()
    assert [lim.try_acquire_retry() for _ in range(2)] == [True, False]
    assert lim.overflow["max_retries"] == 1


def test_the_budget_is_spent_by_retries_and_refilled_by_requests() -> None:
    lim = limits(retry_budget_percent=20.0, min_retry_concurrency=3)
    for _ in range(100):
        lim.try_acquire_request()
    granted = sum(lim.try_acquire_retry() for _ in range(50))
    assert granted == 20 and lim.overflow["retry_budget"] == 30
    for _ in range(20):
        lim.release_retry()
    assert lim.try_acquire_retry()  # the floor: nothing in flight
    lim.release_retry()
    for _ in range(10):
        lim.try_acquire_request()  # ten more requests pay for two more retries
    lim.try_acquire_retry()
    lim.try_acquire_retry()
    lim.try_acquire_retry()
    assert lim.retries == 3 and not lim.try_acquire_retry()


def test_the_reserve_pays_for_retries_right_after_a_start() -> None:
    lim = limits(min_retries_per_second=2.0, retry_budget_window=Duration(10.0))
    lim.try_acquire_request()
    assert sum(lim.try_acquire_retry() for _ in range(30)) == 20  # 2/s over 10 s, no traffic


def test_tick_moves_the_budget_window_and_expires_waiters() -> None:
    lim = limits(retry_budget_percent=20.0, min_retry_concurrency=0)
    for _ in range(10):
        lim.try_acquire_request()
    lim.enqueue("w", 5.0)
    assert lim.tick(1.0) == [] and lim.try_acquire_retry()
    lim.release_retry()
    assert lim.tick(11.0) == ["w"]  # the window moved past every deposit
    assert not lim.try_acquire_retry()


def test_max_retries_caps_retries_in_flight() -> None:
    lim = limits(max_retries=2, retry_budget_percent=0)
    assert [lim.try_acquire_retry() for _ in range(3)] == [True, True, False]
    assert lim.overflow["max_retries"] == 1


def test_the_pending_queue_is_fifo_and_bounded() -> None:
    lim = limits(max_pending_requests=2)
    assert lim.enqueue("a", 10.0) and lim.enqueue("b", 10.0)
    assert not lim.enqueue("c", 10.0)
    assert lim.overflow["max_pending_requests"] == 1 and lim.pending == 2
    assert lim.dequeue() == "a" and lim.dequeue() == "b" and lim.dequeue() is None


def test_dequeue_ready_hands_out_waiters_only_while_a_connection_may_be_opened() -> None:
    lim = limits(max_connections=1)
    assert lim.try_acquire_connection()
    lim.enqueue("a", 10.0)
    lim.enqueue("b", 10.0)
    assert lim.dequeue_ready() is None  # at the ceiling
    lim.release_connection()
    assert lim.dequeue_ready() == "a" and lim.connections == 1  # the slot is taken for "a"
    assert lim.dequeue_ready() is None


def test_a_waiter_whose_client_left_can_be_removed() -> None:
    lim: ResourceLimits[object] = ResourceLimits(LimitsConfig())
    a, b, c = object(), object(), object()
    for w in (a, b, c):
        lim.enqueue(w, 10.0)
    assert lim.remove(b) and not lim.remove(b)
    assert not lim.remove(object())  # identity, not equality: each waiter is one request
    assert [lim.dequeue(), lim.dequeue(), lim.dequeue()] == [a, c, None]


def test_expire_returns_timed_out_waiters_in_order_and_counts_them() -> None:
    lim = limits()
    lim.enqueue("a", 1.0)
    lim.enqueue("b", 3.0)
    lim.enqueue("c", 2.0)
    assert lim.expire(0.5) == []
    assert lim.expire(2.0) == ["a", "c"]
    assert lim.overflow["pending_timeout"] == 2
    assert lim.dequeue() == "b"
    assert lim.expire(100.0) == []


def test_reasons_name_the_limit_and_its_value() -> None:
    lim = limits(max_requests=5, pending_timeout=Duration(0.5))
    assert lim.reason("max_requests") == "upstream overloaded: max_requests (5) reached"
    assert lim.reason("max_pending_requests") == (
        "upstream overloaded: max_pending_requests (1024) reached"
    )
    assert lim.reason("pending_timeout") == "no upstream connection within 0.5s"
    assert lim.reason("retry_budget") == "retry budget exhausted"


def test_counters_and_repr() -> None:
    lim = limits(max_requests=1, max_retries=0)
    lim.try_acquire_request()
    lim.try_acquire_request()
    lim.enqueue("w", 1.0)
    counters = lim.counters()
    assert counters["requests"] == 1 and counters["pending"] == 1
    assert counters["overflow_max_requests"] == 1
    assert lim.overflows["max_requests"] == 1 and lim.overflows is not lim.overflow
    assert repr(lim) == (
        "<ResourceLimits web conns=0/1024 pending=1/1024 requests=1/1 retries=0/inf overflows=1>"
    )


@pytest.mark.parametrize("field", ["max_requests", "max_connections", "min_retry_concurrency"])
def test_negative_limits_are_rejected(field: str) -> None:
    import msgspec

    from meshlb.config.load import _dec_hook

    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({field: -1}, LimitsConfig, dec_hook=_dec_hook)
