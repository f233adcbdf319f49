"""Pool decisions without sockets: LIFO reuse, idle limits, retirement, the pending queue,
and how a failed connect is classified."""

from __future__ import annotations

import asyncio
import errno
from typing import Any

import pytest

from meshlb.config.schema import PoolConfig
from meshlb.config.units import Duration
from meshlb.errors import Failure
from meshlb.model import Endpoint
from meshlb.resilience.config import LimitsConfig
from meshlb.resilience.limits import ResourceLimits
from meshlb.upstream.connection import UpstreamConnection
from meshlb.upstream.pool import ConnectFailed, Pool


class FakeTransport:
    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True

    abort = close

    def set_write_buffer_limits(self, high: int) -> None:
        pass

    def get_extra_info(self, name: str) -> None:
        return None


def make_conn(pool: Pool, endpoint: Endpoint) -> UpstreamConnection:
    conn = UpstreamConnection(endpoint, pool)
    conn.connection_made(FakeTransport())  # type: ignore[arg-type]
    return conn


def test_idle_connections_are_reused_last_in_first_out() -> None:
    pool = Pool("c", PoolConfig(max_idle=4), connect_timeout=1.0)
    ep = Endpoint("c", "127.0.0.1", 1)
    a, b = make_conn(pool, ep), make_conn(pool, ep)
    pool.release(a, now=1.0)
    pool.release(b, now=2.0)
    assert pool.take_idle(ep, 3.0) is b
    assert pool.take_idle(ep, 3.0) is a
    assert pool.take_idle(ep, 3.0) is None


def test_max_idle_and_idle_timeout_close_connections() -> None:
    pool = Pool("c", PoolConfig(max_idle=1, idle_timeout=Duration(10.0)), connect_timeout=1.0)
    ep = Endpoint("c", "127.0.0.1", 1)
    a, b = make_conn(pool, ep), make_conn(pool, ep)
    pool.release(a, now=0.0)
    pool.release(b, now=0.0)
    assert b.closed and not a.closed  # over max_idle
    pool.sweep(now=5.0)
    assert not a.closed
    pool.sweep(now=11.0)
    assert a.closed and pool.take_idle(ep, 11.0) is None


def test_an_upstreams_keep_alive_timeout_shortens_the_idle_limit() -> None:
    pool = Pool("c", PoolConfig(idle_timeout=Duration(60.0)), connect_timeout=1.0)
    ep = Endpoint("c", "127.0.0.1", 1)
    a, b, short = make_conn(pool, ep), make_conn(pool, ep), make_conn(pool, ep)
    a.upstream_idle_timeout = 5.0  # Keep-Alive: timeout=5: reused for 4 s at most
    short.upstream_idle_timeout = 1.0  # reused for half a second
    pool.release(a, now=0.0)
    pool.release(short, now=0.0)
    assert pool.take_idle(ep, 0.6) is a and short.closed  # expired on the way, closed
    pool.release(a, now=10.0)
    assert pool.take_idle(ep, 14.5) is None and a.closed
    b.upstream_idle_timeout = 0.0  # "timeout=0": never kept
    pool.release(b, now=20.0)
    assert b.closed


def test_a_request_that_cannot_be_retried_takes_only_a_proven_connection() -> None:
    pool = Pool("c", PoolConfig(), connect_timeout=1.0)
    ep = Endpoint("c", "127.0.0.1", 1)
    fresh, reused = make_conn(pool, ep), make_conn(pool, ep)
    fresh.requests = 1  # answered one request; the upstream may be closing it right now
    reused.requests = 2  # answered a second request on it: it keeps connections open
    pool.release(reused, now=0.0)
    pool.release(fresh, now=1.0)
    assert pool.take_proven(ep, 1.01) is reused  # skips the newer, unproven one
    assert pool.take_proven(ep, 1.01) is None
    assert pool.take_proven(ep, 1.06) is fresh  # idle 50 ms without closing: proven too


def test_a_retired_pool_keeps_nothing() -> None:
    pool = Pool("c", PoolConfig(), connect_timeout=1.0)
    ep = Endpoint("c", "127.0.0.1", 1)
    idle, busy = make_conn(pool, ep), make_conn(pool, ep)
    pool.release(idle, now=0.0)
    pool.retire()
    assert idle.closed
    pool.release(busy, now=0.0)
    assert busy.closed


class Waiter:
    def __init__(self) -> None:
        self.got: UpstreamConnection | None = None
        self.slots = 0

    def take_connection(self, conn: UpstreamConnection) -> None:
        self.got = conn

    def take_slot(self) -> None:
        self.slots += 1

    def pending_expired(self) -> None:
        pass


def test_a_released_connection_goes_to_the_oldest_waiter_and_a_closed_one_frees_a_slot() -> None:
    pool = Pool("c", PoolConfig(), connect_timeout=1.0)
    limits: ResourceLimits[Waiter] = ResourceLimits(LimitsConfig(max_connections=1))
    pool.limits = limits
    ep = Endpoint("c", "127.0.0.1", 1)
    assert limits.try_acquire_connection()
    conn = make_conn(pool, ep)
    conn.counted = True
    first, second = Waiter(), Waiter()
    assert not limits.try_acquire_connection()
    limits.enqueue(first, deadline=10.0)
    limits.enqueue(second, deadline=10.0)
    pool.release(conn, now=0.0)
    assert first.got is conn and second.got is None  # handed over, not parked idle
    conn.close()
    assert second.slots == 1  # the slot it held went to the next waiter
    assert limits.connections == 1


class FailingLoop:
    """Only the loop method `Pool.connect` calls, failing the way the kernel would."""

    def __init__(self, error: OSError) -> None:
        self.error = error

    async def create_connection(self, *args: Any) -> Any:
        raise self.error


def connect_failure(error: OSError) -> ConnectFailed:
    pool = Pool("c", PoolConfig(), connect_timeout=1.0)
    endpoint = Endpoint("c", "127.0.0.1", 1)

    async def go() -> None:
        await pool._connect(endpoint, FailingLoop(error))  # type: ignore[arg-type]

    with pytest.raises(ConnectFailed) as caught:
        asyncio.run(go())
    return caught.value


@pytest.mark.parametrize("code", [errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM])
def test_running_out_of_descriptors_or_socket_memory_is_a_local_failure(code: int) -> None:
    failure = connect_failure(OSError(code, "Too many open files"))
    assert failure.failure is Failure.LOCAL_RESOURCE
    assert str(failure) == "too many open files"


def test_refused_and_other_connect_errors_are_the_upstreams() -> None:
    assert connect_failure(ConnectionRefusedError(errno.ECONNREFUSED, "refused")).failure is (
        Failure.CONNECT_REFUSED
    )
    assert connect_failure(OSError(errno.EHOSTUNREACH, "unreachable")).failure is (
        Failure.CONNECT_ERROR
    )
