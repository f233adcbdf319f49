"""The life cycle every client connection shares, whatever HTTP version it speaks.

A connection is opened at the start of the run and reopened whenever it closes (the server
ended keep-alive, a request timed out, the connection broke) until the run stops. A failed
connect costs the request the connection would have sent next: it is counted as a connect
error, so that with -n every request ends as exactly one response or one error. A connection
that closes before it became usable (an HTTP/2 server that never sent its SETTINGS, or sent
something that is not HTTP/2) is a failed connect too, and is retried after a short delay.
"""

from __future__ import annotations

import asyncio
from time import perf_counter_ns
from typing import Any, cast

from meshlb.bench.context import RunContext
from meshlb.bench.results import ErrorKind
from meshlb.bench.tls import alpn_mismatch

RECONNECT_DELAY_S = 0.01


class Connection(asyncio.Protocol):
    def __init__(self, ctx: RunContext, number: int) -> None:
        self.ctx = ctx
        self.number = number
        self.transport: asyncio.Transport | None = None
        self.opened = 0  # transports this slot has had, reconnects included
        self.rx_bytes = 0  # bytes received, all transports included
        self._connecting: asyncio.Task[Any] | None = None
        self._retry: asyncio.TimerHandle | None = None
        self._idle_reported = False
        self._settled = False  # whether the first connect has succeeded or failed
        # False until the protocol can carry requests (HTTP/2: the server's SETTINGS came).
        # A connection lost before that is a failed connect, of this kind:
        self._ready = False
        self._handshake_error = ErrorKind.CONNECT

    def __repr__(self) -> str:
        if self.transport is not None:
            state = "open"
        elif self._connecting is not None:
            state = "connecting"
        else:
            state = "closed"
        return (
            f"<{type(self).__name__} #{self.number} {state} opened={self.opened} "
            f"inflight={self.inflight()}>"
        )

    # What a protocol implements.

    def inflight(self) -> int:
        raise NotImplementedError

    def check_timeout(self, now_ns: int, timeout_ns: int) -> None:
        raise NotImplementedError

    def _start(self, now_ns: int) -> None:
        """The transport is up: start sending."""
        raise NotImplementedError

    def _fail_inflight(self) -> None:
        """The transport is gone: count what was in flight on it."""
        raise NotImplementedError

    # Life cycle.

    def open(self) -> None:
        if self.ctx.stopping or self._connecting is not None or self.transport is not None:
            return
        self._connecting = self.ctx.loop.create_task(self._connect())

    def close(self) -> None:
        """Stop for good (the end of the run)."""
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        if self._connecting is not None:
            self._connecting.cancel()
            self._connecting = None
        if self.transport is not None:
            self.transport.abort()

    async def _connect(self) -> None:
        ctx = self.ctx
        try:
            await asyncio.wait_for(
                ctx.loop.create_connection(
                    lambda: self,
                    ctx.host,
                    ctx.port,
                    ssl=ctx.ssl,
                    server_hostname=ctx.server_hostname if ctx.ssl else None,
                ),
                ctx.connect_timeout_s,
            )
        except OSError:  # refused, unreachable, TLS handshake failure, connect timeout
            self._connecting = None
            self._connect_failed(ErrorKind.CONNECT)

    def _settle(self) -> None:
        if not self._settled:
            self._settled = True
            self.ctx.on_settled(self)

    def _connect_failed(self, kind: ErrorKind) -> None:
        ctx = self.ctx
        self._settle()
        if ctx.stopping:
            return
        dispatcher = ctx.dispatcher
        if dispatcher is None:
            if ctx.remaining <= 0:
                self._report_idle()
                return
            ctx.remaining -= 1
            ctx.recorder.error(kind)
        else:
            if dispatcher.connect_failed(perf_counter_ns()):
                ctx.recorder.error(kind)
            if dispatcher.finished:
                return
        self._retry = ctx.loop.call_later(RECONNECT_DELAY_S, self._reopen)

    def _reopen(self) -> None:
        self._retry = None
        self.open()

    def _wants_more(self) -> bool:
        ctx = self.ctx
        if ctx.dispatcher is None:
            return ctx.remaining > 0
        return not ctx.dispatcher.finished

    def _report_idle(self) -> None:
        """Closed model: this connection will send nothing more."""
        if not self._idle_reported:
            self._idle_reported = True
            self.ctx.on_idle(self)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses
        self._connecting = None
        self.opened += 1
        self._ready = False
        self._handshake_error = ErrorKind.CONNECT
        self._settle()
        if self.ctx.ssl is not None:
            problem = alpn_mismatch(transport.get_extra_info("ssl_object"), self.ctx.http2)
            if problem is not None:
                self.ctx.on_fatal(problem)
                self.transport.abort()
                return
        self._start(perf_counter_ns())

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.ctx.stopping:
            return
        if not self._ready:
            self._connect_failed(self._handshake_error)
            return
        self._fail_inflight()
        if self._wants_more():
            self.open()
        else:
            self._report_idle()
