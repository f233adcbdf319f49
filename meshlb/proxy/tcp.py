"""Layer-4 proxying: one client connection becomes one upstream connection, bytes both ways.

For databases, SMTP and any TCP protocol. The endpoint is picked when the client connects
(least_connections suits long-lived connections); a refused or timed-out connect is retried
on another endpoint before the client is dropped, so a dead block is routed around before a
byte is lost. Each side pauses the other's reading while its write buffer is full, and a
half-close is passed on (write_eof) so request/response protocols can finish.

While the upstream connect is under way the client's bytes are buffered, up to HIGH_WATER
before its reading is paused, and so is its half-close: once connected, the buffered bytes
go out first and then the EOF. Each direction ends on its own; the session closes when both
have (or when either side closes or resets).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import TYPE_CHECKING

from meshlb.model import Endpoint, PickContext

if TYPE_CHECKING:
    from meshlb.cluster.cluster import Cluster
    from meshlb.config.schema import ListenerConfig
    from meshlb.stats import Stats

log = logging.getLogger("meshlb.tcp")

HIGH_WATER = 256 * 1024


class TcpListenerContext:
    __slots__ = (
        "name",
        "config",
        "cluster",
        "sessions",
        "stats",
        "closing",
        "idle_timeout",
        "connect_attempts",
    )

    def __init__(self, name: str, config: ListenerConfig, cluster: Cluster, stats: Stats) -> None:
        self.name = name
        self.config = config
        self.cluster = cluster
        self.sessions: set[TcpSession] = set()
        self.stats = stats
        self.closing = False
        self.idle_timeout = (
            float(config.idle_timeout) if config.idle_timeout is not None else 3600.0
        )
        self.connect_attempts = max(1, len(cluster.endpoint_set.endpoints))

    def update(self, other: TcpListenerContext) -> None:
        """Reload: new connections go to the new cluster; open ones stay where they are."""
        self.config = other.config
        self.cluster = other.cluster
        self.idle_timeout = other.idle_timeout
        self.connect_attempts = other.connect_attempts

    def sweep(self, now: float) -> None:
        for session in list(self.sessions):
            if session.deadline and session.deadline <= now:
                log.info("closing idle TCP connection from %s", session.peer)
                session.close()


class _Upstream(asyncio.Protocol):
    """The upstream half of a TCP session."""

    def __init__(self, session: TcpSession, endpoint: Endpoint) -> None:
        self.session = session
        self.endpoint = endpoint
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.set_write_buffer_limits(high=HIGH_WATER)  # type: ignore[union-attr]
        self.endpoint.active_connections += 1

    def data_received(self, data: bytes) -> None:
        self.session.to_client(data)

    def eof_received(self) -> bool:
        return self.session.upstream_eof()

    def connection_lost(self, exc: Exception | None) -> None:
        self.endpoint.active_connections -= 1
        self.endpoint.total_requests += 1
        self.session.close()

    def pause_writing(self) -> None:
        self.session.pause_client()

    def resume_writing(self) -> None:
        self.session.resume_client()


class TcpSession(asyncio.Protocol):
    __slots__ = (
        "listener",
        "transport",
        "upstream",
        "pending",
        "pending_size",
        "peer",
        "deadline",
        "closed",
        "tried",
        "loop",
        "client_ended",
        "upstream_ended",
    )

    def __init__(self, listener: TcpListenerContext) -> None:
        self.listener = listener
        self.transport: asyncio.Transport | None = None
        self.upstream: _Upstream | None = None
        self.pending: list[bytes] = []  # client bytes that arrived before the upstream connect
        self.pending_size = 0
        self.peer = "-"
        self.deadline = 0.0
        self.closed = False
        self.tried: tuple[Endpoint, ...] = ()
        self.loop = asyncio.get_running_loop()
        self.client_ended = False  # the client sent its EOF (client -> upstream is done)
        self.upstream_ended = False  # the upstream sent its EOF (upstream -> client is done)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.set_write_buffer_limits(high=HIGH_WATER)  # type: ignore[union-attr]
        peer = transport.get_extra_info("peername")
        self.peer = str(peer[0]) if peer else "-"
        listener = self.listener
        listener.sessions.add(self)
        listener.stats.downstream_connections_total += 1
        self.touch()
        asyncio.ensure_future(self._connect())

    async def _connect(self) -> None:
        cluster = self.listener.cluster
        for _ in range(self.listener.connect_attempts):
            endpoint = cluster.pick(PickContext(None, self.tried, self.loop.time()))
            if endpoint is None or self.closed:
                break
            self.tried = (*self.tried, endpoint)
            try:
                async with asyncio.timeout(cluster.config.connect_timeout):
                    _, upstream = await self.loop.create_connection(
                        lambda ep=endpoint: _Upstream(self, ep),  # type: ignore[misc]
                        endpoint.host,
                        endpoint.port,
                    )
            except (OSError, TimeoutError) as exc:
                log.warning("TCP connect to %s failed: %s", endpoint.address, exc or "timeout")
                cluster.retries += 1
                continue
            if self.closed:
                upstream.transport.close()
                return
            sock = upstream.transport.get_extra_info("socket")  # type: ignore[union-attr]
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.upstream = upstream
            self._flush_pending(upstream)
            return
        self.listener.stats.local_failures["TCP_NO_UPSTREAM"] += 1
        log.warning(
            "TCP client %s dropped: no endpoint of %s accepted a connection",
            self.peer,
            cluster.name,
        )
        self.close()

    def touch(self) -> None:
        self.deadline = self.loop.time() + self.listener.idle_timeout

    def _flush_pending(self, upstream: _Upstream) -> None:
        """Send what the client sent while connecting, then its EOF if it came."""
        transport = upstream.transport
        assert transport is not None
        # Resume first: the write below pauses the client again if it fills the buffer.
        self.resume_client()
        if self.pending:
            transport.write(b"".join(self.pending))
            self.pending.clear()
            self.pending_size = 0
        if self.client_ended and transport.can_write_eof():
            transport.write_eof()

    def data_received(self, data: bytes) -> None:
        self.touch()
        upstream = self.upstream
        if upstream is not None and upstream.transport is not None:
            upstream.transport.write(data)
        else:
            self.pending.append(data)
            self.pending_size += len(data)
            if self.pending_size > HIGH_WATER:
                self.pause_client()

    def eof_received(self) -> bool:
        self.client_ended = True
        upstream = self.upstream
        if upstream is None:
            return True  # passed on after the buffered bytes once the connect completes
        if upstream.transport is not None and upstream.transport.can_write_eof():
            upstream.transport.write_eof()
        return self._keep_open()

    def _keep_open(self) -> bool:
        """After a half-close the other direction goes on; once both ended, close."""
        if self.client_ended and self.upstream_ended:
            self.close()
            return False
        return True

    def to_client(self, data: bytes) -> None:
        self.touch()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def upstream_eof(self) -> bool:
        self.upstream_ended = True
        if self.transport is not None and self.transport.can_write_eof():
            self.transport.write_eof()
        return self._keep_open()

    def pause_writing(self) -> None:
        if self.upstream is not None and self.upstream.transport is not None:
            self.upstream.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.upstream is not None and self.upstream.transport is not None:
            self.upstream.transport.resume_reading()

    def pause_client(self) -> None:
        # After its EOF the client is not read any more; resuming would read the EOF again.
        if self.transport is not None and not self.client_ended:
            self.transport.pause_reading()

    def resume_client(self) -> None:
        if self.transport is not None and not self.client_ended and not self.transport.is_closing():
            self.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        listener = self.listener
        listener.sessions.discard(self)
        if self.transport is not None:
            self.transport.close()
        if self.upstream is not None and self.upstream.transport is not None:
            self.upstream.transport.close()

    def shutdown(self) -> None:
        """Graceful shutdown waits for TCP sessions to end by themselves (drain timeout)."""

    def __repr__(self) -> str:
        target = self.upstream.endpoint.address if self.upstream else "connecting"
        return f"<TcpSession {self.peer} -> {target}>"
