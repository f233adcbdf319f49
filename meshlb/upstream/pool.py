"""Keep-alive connection pools, one per cluster, keyed by endpoint.

Deciding is synchronous (`take_idle`, `release`, `sweep` return at once); the only
coroutine is `connect`, run in a task by the caller only when no idle connection exists.
"""

from __future__ import annotations

import asyncio
import errno
import socket
from typing import Protocol

from meshlb.config.schema import PoolConfig
from meshlb.errors import LOCAL_RESOURCE_ERRNOS, Failure
from meshlb.model import Endpoint
from meshlb.resilience.limits import ResourceLimits
from meshlb.upstream.connection import UpstreamConnection


class Waiter(Protocol):
    """A request parked in a cluster's pending queue until a connection frees up."""

    def take_connection(self, conn: UpstreamConnection) -> None: ...
    def take_slot(self) -> None: ...
    def pending_expired(self) -> None: ...


class ConnectFailed(Exception):
    def __init__(self, failure: Failure, detail: str) -> None:
        super().__init__(detail)
        self.failure = failure


class Pool:
    __slots__ = ("cluster", "config", "connect_timeout", "idle", "retired", "limits")

    def __init__(self, cluster: str, config: PoolConfig, connect_timeout: float) -> None:
        self.cluster = cluster
        self.config = config
        self.connect_timeout = connect_timeout
        self.idle: dict[Endpoint, list[UpstreamConnection]] = {}
        self.retired = False  # replaced by a reload: connections close when released
        self.limits: ResourceLimits[Waiter] | None = None  # the cluster's, set by the cluster

    def take_idle(self, endpoint: Endpoint, now: float) -> UpstreamConnection | None:
        """The most recently used idle connection to `endpoint` (LIFO keeps few conns warm)
        that is within its idle limit."""
        stack = self.idle.get(endpoint)
        while stack:
            conn = stack.pop()
            if conn.closed:
                continue
            if now < conn.expires:
                return conn
            conn.close()
        return None

    def take_proven(self, endpoint: Endpoint, now: float) -> UpstreamConnection | None:
        """The most recently used idle connection to `endpoint` that has shown it stays open
        (UpstreamConnection.proven), for a request that could not be retried if the
        upstream closed the connection under it."""
        stack = self.idle.get(endpoint)
        if not stack:
            return None
        for i in range(len(stack) - 1, -1, -1):
            conn = stack[i]
            if not conn.closed and now < conn.expires and conn.proven(now):
                del stack[i]
                return conn
        return None

    async def connect(self, endpoint: Endpoint) -> UpstreamConnection:
        """A new connection. The caller holds a max_connections slot for it; on failure the
        slot is given back here, on success when the connection closes."""
        loop = asyncio.get_running_loop()
        try:
            return await self._connect(endpoint, loop)
        except BaseException:
            self._slot_freed()
            raise

    async def _connect(
        self, endpoint: Endpoint, loop: asyncio.AbstractEventLoop
    ) -> UpstreamConnection:
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, conn = await loop.create_connection(
                    lambda: UpstreamConnection(endpoint, self), endpoint.host, endpoint.port
                )
        except TimeoutError:
            raise ConnectFailed(Failure.CONNECT_TIMEOUT, "connect timeout") from None
        except ConnectionRefusedError as exc:
            raise ConnectFailed(Failure.CONNECT_REFUSED, str(exc)) from None
        except OSError as exc:
            if exc.errno in LOCAL_RESOURCE_ERRNOS:
                raise ConnectFailed(Failure.LOCAL_RESOURCE, (exc.strerror or "").lower()) from None
            kind = (
                Failure.CONNECT_REFUSED
                if exc.errno == errno.ECONNREFUSED
                else Failure.CONNECT_ERROR
            )
            raise ConnectFailed(kind, str(exc)) from None
        sock = conn.transport.get_extra_info("socket") if conn.transport else None
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.counted = True
        return conn

    def release(self, conn: UpstreamConnection, now: float) -> None:
        """Return a connection whose exchange completed cleanly; keep it if there is room."""
        if conn.closed:
            return
        conn.owner = None
        conn.idle_since = now
        limits = self.limits
        if limits is not None and limits.pending and not self.retired:
            waiter = limits.dequeue()
            if waiter is not None:
                waiter.take_connection(conn)
                return
        stack = self.idle.setdefault(conn.endpoint, [])
        keep = float(self.config.idle_timeout)
        upstream_keeps = conn.upstream_idle_timeout
        if upstream_keeps is not None:
            # The upstream said how long it keeps an idle connection (Keep-Alive: timeout=):
            # reuse it only well before then, so that a request never races its close.
            keep = min(keep, upstream_keeps - min(1.0, upstream_keeps / 2))
        if self.retired or len(stack) >= self.config.max_idle or keep <= 0:
            conn.close()
            return
        conn.expires = now + keep
        stack.append(conn)

    def forget(self, conn: UpstreamConnection) -> None:
        """A connection closed: drop it, and give its max_connections slot back."""
        if conn.counted:
            conn.counted = False
            self._slot_freed()
        stack = self.idle.get(conn.endpoint)
        if stack and conn in stack:
            stack.remove(conn)

    def _slot_freed(self) -> None:
        limits = self.limits
        if limits is None:
            return
        limits.release_connection()
        if limits.pending:
            waiter = limits.dequeue_ready()  # takes the slot for the waiter
            if waiter is not None:
                waiter.take_slot()

    def sweep(self, now: float) -> None:
        """Close idle connections past their idle limit."""
        for stack in self.idle.values():
            if any(conn.expires <= now for conn in stack):
                expired = [conn for conn in stack if conn.expires <= now]
                stack[:] = [conn for conn in stack if conn.expires > now]
                for conn in expired:
                    conn.close()

    def retire(self) -> None:
        """After a reload: close idle connections now, busy ones when their exchange ends."""
        self.retired = True
        self.close_all()

    def close_all(self) -> None:
        for stack in list(self.idle.values()):
            for conn in list(stack):
                conn.close()
        self.idle.clear()

    def __repr__(self) -> str:
        idle = sum(len(s) for s in self.idle.values())
        return f"<Pool {self.cluster} idle={idle}>"
