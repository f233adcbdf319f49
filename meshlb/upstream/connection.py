"""One keep-alive HTTP/1.1 connection to an upstream endpoint.

The connection parses responses with the llhttp codec and forwards every parser event to the
exchange that currently owns it; between exchanges it sits idle in its `Pool`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from typing import TYPE_CHECKING, Protocol

from meshlb.model import Endpoint
from meshlb.protocol import make_response_parser
from meshlb.protocol.messages import H1Limits, ResponseHead

if TYPE_CHECKING:
    from meshlb.upstream.pool import Pool

log = logging.getLogger("meshlb.upstream")

UPSTREAM_LIMITS = H1Limits(max_header_bytes=64 * 1024, max_headers=200)
WRITE_HIGH_WATER = 256 * 1024
# An upstream that closes each connection right after answering (without saying so) does
# it within milliseconds: a connection idle longer than this without closing keeps them.
REUSE_PROBATION = 0.05


class ConnectionOwner(Protocol):
    """What an exchange implements to receive a response from an upstream connection."""

    def on_response_head(self, head: ResponseHead) -> None: ...
    def on_response_whole(
        self, status: int, reason: bytes, keep_alive: bool, raw: bytes, body: bytes
    ) -> None:
        """An HTTP/1.1 response with its Content-Length body: head, body and end in one call
        (`raw`: the field lines as received, less Connection). The owner also sends it."""

    def on_response_informational(self, head: ResponseHead) -> None: ...
    def on_response_body(self, data: bytes) -> None: ...
    def on_response_end(self) -> None: ...
    def on_response_error(self, reason: str) -> None: ...
    def on_upstream_lost(self, exc: Exception | None) -> None: ...
    def on_upstream_pause_writing(self) -> None: ...
    def flush(self) -> None: ...
    def on_tunnel_open(self, upstream_held: bytes) -> None: ...
    def on_tunnel_data(self, data: bytes) -> None: ...
    def on_internal_error(self) -> None: ...
    def on_upstream_resume_writing(self) -> None: ...


class UpstreamConnection(asyncio.Protocol):
    __slots__ = (
        "endpoint",
        "pool",
        "transport",
        "parser",
        "owner",
        "closed",
        "requests",
        "received",
        "idle_since",
        "expires",
        "upstream_idle_timeout",
        "switching",
        "tunnel",
        "out",
        "counted",
        "fd",
        "family",
        "head_sent",
        "spare",
        "body_refused",
    )

    def __init__(self, endpoint: Endpoint, pool: Pool) -> None:
        self.endpoint = endpoint
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.parser = make_response_parser("llhttp", self, UPSTREAM_LIMITS)
        self.owner: ConnectionOwner | None = None
        self.closed = False
        self.requests = 0  # requests sent on this connection
        self.received = False  # a byte of the current response arrived
        self.idle_since = 0.0
        self.expires = 0.0  # while idle: closed at this time, never reused after it
        self.upstream_idle_timeout: float | None = None  # from its Keep-Alive: timeout=
        self.switching = False  # a 101 was parsed; the parser lets go after this read
        self.tunnel = False
        self.out: list[bytes] = []  # request bytes waiting for flush()
        self.counted = False  # holds a slot under the cluster's max_connections
        self.fd = -1
        self.family = socket.AF_INET
        self.head_sent = False  # the current request's head left: later writes are its body
        self.spare: socket.socket | None = None  # see flush()
        self.body_refused = False  # the upstream answered and closes: the rest is not sent

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)  # type: ignore[attr-defined]
        self.endpoint.active_connections += 1
        sock = transport.get_extra_info("socket")
        if sock is not None:
            self.fd = sock.fileno()
            self.family = sock.family

    def data_received(self, data: bytes) -> None:
        self.received = True
        owner = self.owner
        if owner is None:
            # Bytes with no request outstanding: the upstream is confused; never reuse it.
            self.close()
            return
        if self.tunnel:
            owner.on_tunnel_data(data)
            return
        try:
            whole = self.parser.take_whole(data)
            if whole is not None:  # one whole response of the common shape: sent by the owner
                status, reason, keep_alive, raw, end = whole
                body = data[end:] if end < len(data) else b""
                owner.on_response_whole(status, reason, keep_alive, raw, body)
                return
            self.parser.feed(data)
            owner.flush()
            if self.switching:
                self.switching = False
                self.tunnel = True
                owner.on_tunnel_open(self.parser.detach())
        except Exception:
            log.exception("internal error handling a response from %s", self.endpoint.address)
            self.abort()
            owner.on_internal_error()

    def eof_received(self) -> bool:
        owner = self.owner
        if owner is not None:
            self.parser.feed_eof()
            owner.flush()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        spare, self.spare = self.spare, None
        if spare is not None:
            if exc is not None and self.owner is not None:
                self._salvage(spare)
            spare.close()
        if not self.closed:
            self.closed = True
            self.endpoint.active_connections -= 1
        owner, self.owner = self.owner, None
        self.pool.forget(self)
        if owner is not None:
            owner.on_upstream_lost(exc)

    def pause_writing(self) -> None:
        if self.owner is not None:
            self.owner.on_upstream_pause_writing()

    def resume_writing(self) -> None:
        if self.owner is not None:
            self.owner.on_upstream_resume_writing()

    # -- parser sink: forwarded to the owning exchange ---------------------------------------

    def on_response_head(self, head: ResponseHead) -> None:
        if self.owner is not None:
            self.owner.on_response_head(head)

    def on_response_informational(self, head: ResponseHead) -> None:
        if self.owner is not None:
            self.owner.on_response_informational(head)

    def on_response_body(self, data: bytes) -> None:
        if self.owner is not None:
            self.owner.on_response_body(data)

    def on_response_end(self) -> None:
        if self.owner is not None:
            self.owner.on_response_end()

    def on_response_error(self, reason: str) -> None:
        owner, self.owner = self.owner, None
        self.close()
        if owner is not None:
            owner.on_response_error(reason)

    # -- used by exchanges and the pool ------------------------------------------------------

    def send(self, owner: ConnectionOwner, method: bytes, data: bytes, now: bool = False) -> None:
        """Start a request: its head (and any body so far) is written at once with `now`,
        else at the next flush()."""
        self.owner = owner
        self.received = False
        self.requests += 1
        self.head_sent = False
        self.parser.expect(method)
        if now and not self.out:
            self.transport.write(data)  # type: ignore[union-attr]
            self.head_sent = True
        else:
            self.out.append(data)
            if now:
                self.flush()

    def write(self, data: bytes) -> None:
        """Queue request bytes; they leave at the next flush() (the end of the client read)."""
        if not self.closed and not self.body_refused:
            self.out.append(data)

    def flush(self) -> None:
        out = self.out
        if out and self.transport is not None and not self.closed:
            if self.head_sent and self.spare is None and not self.received:
                self._keep_spare()
            self.transport.write(out[0] if len(out) == 1 else b"".join(out))
            self.head_sent = True
        out.clear()

    def _keep_spare(self) -> None:
        """A request body is streaming upstream: keep a second descriptor of the socket.

        A server that refuses a body (413, 401) answers early and closes without reading
        the rest; our next write then meets its reset, and the event loop closes the
        connection on that write error before reading the answer that already arrived. The
        spare descriptor lets `connection_lost` read that answer (RFC 9112 §9.5: a client
        watches for an early response while it sends)."""
        if self.fd >= 0 and self.transport is not None and not self.transport.is_closing():
            self.spare = socket.socket(self.family, socket.SOCK_STREAM, 0, os.dup(self.fd))

    def _salvage(self, spare: socket.socket) -> None:
        """Read what the upstream sent before its reset and parse it as usual."""
        try:
            while self.owner is not None:
                data = spare.recv(65536, socket.MSG_DONTWAIT)
                if not data:
                    return
                self.data_received(data)
        except OSError:
            pass

    def refuse_body(self) -> None:
        """The upstream gave its final answer and closes: the rest of the request body is
        not wanted (RFC 9112 §9.5), so it is dropped instead of sent."""
        self.body_refused = True
        self.out.clear()

    def proven(self, now: float) -> bool:
        """Has the upstream shown it keeps this idle connection open? It answered a request
        after an earlier one on it, or it stayed open REUSE_PROBATION seconds since its last
        answer. A request that cannot be retried (POST) is sent only on such a connection
        or a new one, so that an upstream closing the connection just as meshlb reuses it
        (the keep-alive race, RFC 9112 §9.3.1) never costs such a request."""
        return self.requests > 1 or now - self.idle_since >= REUSE_PROBATION

    def pause_reading(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.resume_reading()

    def close(self) -> None:
        self.owner = None
        if not self.closed:
            self.closed = True
            self.endpoint.active_connections -= 1
            if self.transport is not None:
                self.transport.close()
            self.pool.forget(self)

    def abort(self) -> None:
        self.owner = None
        if not self.closed:
            self.closed = True
            self.endpoint.active_connections -= 1
            if self.transport is not None:
                self.transport.abort()
            self.pool.forget(self)

    def __repr__(self) -> str:
        state = "closed" if self.closed else ("active" if self.owner else "idle")
        return f"<UpstreamConnection {self.endpoint.address} {state} requests={self.requests}>"
