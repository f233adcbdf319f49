"""The HTTP/1.1 data path: a downstream session and the exchanges it runs.

Theory of operation. `HttpSession` is the asyncio.Protocol of one client connection and the
sink of its request parser. Each parsed request becomes an `Exchange`; exchanges run one at a
time in arrival order (pipelined requests wait in `queue` with their bodies buffered). An
exchange routes, picks an endpoint, takes an idle pooled connection (or opens one in the only
task of the path), writes the re-framed request and owns that upstream connection until the
response ends, forwarding response events to the client as they arrive.

Flow control is by pausing reads: the client is paused while the upstream's write buffer is
above its high-water mark (or while an exchange waits to connect with a body buffered), and
the upstream is paused while the client's write buffer is full. Time limits are deadlines on
the session, checked by the listener's sweep (one timer per process, none per request).

Retries: before any response byte reached the client, a failed attempt is retried on another
endpoint when it is safe (the request did not leave, or it is idempotent and its body is
buffered), up to the cluster's limit; a pooled connection the upstream had closed gets one
extra try on a fresh connection.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import time
from collections import deque
from http import HTTPStatus
from typing import TYPE_CHECKING

from meshlb.accesslog import AccessEntry
from meshlb.balance import cookie_value as sticky_value
from meshlb.balance import hash_key
from meshlb.cluster.cluster import IDEMPOTENT_METHODS, Cluster
from meshlb.errors import Failure
from meshlb.health.outcome import Fault, fault_of
from meshlb.model import Endpoint, PickContext
from meshlb.protocol import make_request_parser
from meshlb.protocol.messages import RequestHead, ResponseHead
from meshlb.protocol.serialize import (
    CONTINUE,
    LAST_CHUNK,
    encode_chunk,
    simple_response,
    status_line,
)
from meshlb.proxy.forwarding import extended_chain, peer_fields, without_forwarding
from meshlb.resilience.retry import RetryPolicy, parse_retry_after
from meshlb.routing import Route, cookie_value
from meshlb.upstream.connection import UpstreamConnection
from meshlb.upstream.pool import ConnectFailed

if TYPE_CHECKING:
    from meshlb.proxy.listener import ListenerContext

log = logging.getLogger("meshlb.proxy")
_RNG = random.Random()  # retry backoff jitter

MAX_PIPELINE = 16
MAX_INTERIM = 16  # 1xx responses accepted before a final one
LINGER_TIME = 5.0  # seconds a client may go on sending a body nobody will read

# Reasons the client side is paused; reading resumes when none is left.
PAUSE_UPSTREAM_FULL = 1
PAUSE_BUFFERED = 2
PAUSE_PIPELINE = 4
PAUSE_UPGRADE = 8  # bytes after an Upgrade request, held until the upstream answers it
MAX_HELD = 64 * 1024

NO_BODY_STATUS = frozenset({204, 304})
_STATUS_LINES = {s.value: status_line(s.value) for s in HTTPStatus}
_REASONS = {s.value: s.phrase.encode("latin-1") for s in HTTPStatus}


def _status_line(status: int, reason: bytes) -> bytes:
    """The status line to send: prepared once for each status with its usual reason."""
    line = _STATUS_LINES.get(status)
    if line is None or reason != _REASONS.get(status):
        line = status_line(status, reason)
    return line


# Deadline kinds of a session.
IDLE, HEADER, UPSTREAM, DRAIN, BODY, SEND = 1, 2, 3, 4, 5, 6

# Sessions whose client stopped reading (its write buffer is full), with the time it
# stopped, oldest first. Under a full limit, one stalled that long gives its slots up.
_STALLED: dict[HttpSession, float] = {}
STALL_PREEMPT_AFTER = 1.0


class Exchange:
    """One request, from its head to the last byte of its response."""

    __slots__ = (
        "session",
        "head",
        "route",
        "cluster",
        "endpoint",
        "conn",
        "tried",
        "attempts",
        "request_bytes",
        "body",
        "body_size",
        "replayable",
        "request_done",
        "sent",
        "response_started",
        "chunked_out",
        "keep_client",
        "status",
        "bytes_out",
        "start",
        "upstream_start",
        "connect_task",
        "reason",
        "fresh_retry_used",
        "no_body",
        "timeout",
        "upstream_keep",
        "request_id",
        "last_failure",
        "retry_timer",
        "holds",
        "per_try",
        "set_cookie",
        "queued",
        "forward_as_received",
        "unsent_head",
        "interim",
        "dispatched",
        "body_start",
        "client_slot",
    )

    def __init__(self, session: HttpSession, head: RequestHead, now: float) -> None:
        self.session = session
        self.head = head
        self.route: Route[Cluster] | None = None
        self.cluster: Cluster | None = None
        self.endpoint: Endpoint | None = None
        self.conn: UpstreamConnection | None = None
        self.tried: tuple[Endpoint, ...] = ()
        self.attempts = 0
        self.request_bytes = b""
        self.body: list[bytes] = []  # framed body bytes kept for a replay or not yet sent
        self.body_size = 0
        self.replayable = True
        self.request_done = not (head.chunked or head.content_length)
        self.sent = False  # the current attempt's bytes were handed to the upstream
        self.response_started = False
        self.chunked_out = False
        self.keep_client = head.keep_alive
        self.status = 0
        self.bytes_out = 0
        self.start = now
        self.upstream_start = 0.0
        self.connect_task: asyncio.Task[UpstreamConnection] | None = None
        self.reason = ""
        self.fresh_retry_used = False
        self.no_body = head.method == b"HEAD"
        self.timeout = 0.0
        self.upstream_keep = False
        self.request_id = head.request_id
        self.last_failure: Failure | None = None
        self.retry_timer: asyncio.TimerHandle | None = None
        self.holds = 0  # resource-limit slots held: 1 for the request, +2 per retry
        self.per_try = False  # the current deadline is the per-try timeout
        self.set_cookie = b""
        self.queued = False  # waiting in the cluster's pending queue for a connection
        self.forward_as_received = False  # see begin()
        self.unsent_head = b""  # the response head while it waits in session.out
        self.interim = 0  # 1xx responses received
        self.dispatched = False  # limits taken and the request built: see begin()
        self.body_start = 0.0  # when the exchange began waiting for its request body
        self.client_slot = False  # counted in the listener's in-flight requests per client

    # -- request side -----------------------------------------------------------------------

    def begin(self) -> None:
        """Route the request; dispatch it now, or once its body is here.

        A request with a body is dispatched (takes the cluster's limits and an upstream
        connection) once the whole body arrived or `buffer_limit` bytes of it did: a client
        that trickles its body holds nothing that other clients need, and the body's minimum
        rate (`body_min_rate` after `body_grace`) ends it with 408.
        """
        session = self.session
        route = session.listener.router.match(self.head)
        if route is None:
            self.fail_local(Failure.NO_ROUTE)
            return
        self.route = route
        cluster = self.cluster = route.cluster
        self.timeout = route.timeout if route.timeout is not None else cluster.timeout
        if self.request_done:
            self.dispatch()
            return
        ctx = session.listener
        if self.head.expect_continue:
            session.write(CONTINUE)
        self.body_start = now = session.now()
        if ctx.body_min_rate:
            session.set_deadline(BODY, now + ctx.body_grace + self.body_size / ctx.body_min_rate)
        else:
            session.set_deadline(UPSTREAM, now + self._wait_limit())
        if self.body_size >= ctx.buffer_limit:
            self.dispatch()

    def dispatch(self) -> None:
        """Take the limits (preempting a stalled client if one is full) and send the first
        attempt."""
        route = self.route
        cluster = self.cluster
        assert route is not None and cluster is not None
        self.dispatched = True
        session = self.session
        ctx = session.listener
        if ctx.per_client_cap:
            count = ctx.in_flight.get(session.client_ip, 0)
            if count >= ctx.per_client_cap:
                self.reason = f"{Failure.CLIENT_LIMIT.text} ({ctx.per_client_cap})"
                self.fail_local(Failure.CLIENT_LIMIT)
                return
            ctx.in_flight[session.client_ip] = count + 1
            self.client_slot = True
        if not cluster.limits.try_acquire_request() and not (
            preempt_stalled(cluster, session.now()) and cluster.limits.try_acquire_request()
        ):
            self.reason = cluster.limits.reason("max_requests")
            self.fail_local(Failure.OVERFLOW)
            return
        self.holds = 1
        # Its response can go out as received: an HTTP/1.1 client staying connected, and a
        # route that neither edits responses, nor retries on their status, nor sets cookies.
        self.forward_as_received = (
            route.forward_response and self.keep_client and (self.head.version == b"1.1")
        )
        self.request_bytes = self._build_request(route)
        self.attempt()

    def _build_request(self, route: Route[Cluster]) -> bytes:
        head = self.head
        session = self.session
        ctx = session.listener
        raw = head.raw
        if (
            raw is not None
            and route.plain_forward
            and head.request_id is None
            and head.forwarded_for is None
            and head.upgrade is None
            and not head.expect_continue
        ):
            # The common request in one formatting step (the general form is below). A head
            # with raw lines carries no forwarding field: trusted peer or not, meshlb's own.
            self.request_id = request_id = ctx.request_id()  # (before the slow branches)
            return b"%s %s HTTP/1.1\r\n%s%sx-forwarded-host: %s\r\n%s" \
                b"x-request-id: %s\r\n\r\n" % (
                    head.method,
                    head.target,
                    raw,
                    session.peer_fields,
                    head.host,
                    ctx.static_fields,
                    request_id,
                )  # fmt: skip
        target = head.target if route.prefix_rewrite is None else route.rewrite_target(head.target)
        chain = None  # a trusted peer's forwarding fields, extended (forwarding.py)
        if raw is not None and route.plain_request and not head.expect_continue:
            # Fast path: the client's field lines go out as received (framing included).
            fields = raw
            framing = b""
        else:
            drop = route.request_drop
            headers = head.headers
            if session.trusted:
                chain = extended_chain(
                    headers, head.forwarded_for, session.client_ip, head.host, ctx.proto_field
                )
            else:
                headers = without_forwarding(headers)
            fields = b"host: %s\r\n%s" % (
                head.host,
                b"".join([b"%s: %s\r\n" % p for p in headers if p[0] not in drop]),
            )
            if head.chunked:
                framing = b"transfer-encoding: chunked\r\n"
            elif head.content_length is not None:
                framing = b"content-length: %d\r\n" % head.content_length
            else:
                framing = b""
        if chain is None:
            forwarding = b"%sx-forwarded-host: %s\r\n%s" % (
                session.peer_fields,
                head.host,
                ctx.static_fields,
            )
        else:
            forwarding = chain + ctx.via_field
        if head.request_id is None:
            self.request_id = ctx.request_id()
            extra = b"x-request-id: %s\r\n" % self.request_id
        else:
            extra = b""
        if route.request_add:
            extra += b"".join([b"%s: %s\r\n" % p for p in route.request_add])
        if head.upgrade is not None:
            extra += b"connection: upgrade\r\nupgrade: %s\r\n" % head.upgrade
        return b"%s %s HTTP/1.1\r\n%s%s%s%s\r\n" % (
            head.method,
            target,
            fields,
            framing,
            forwarding,
            extra,
        )

    def attempt(self) -> None:
        cluster = self.cluster
        route = self.route
        assert cluster is not None and route is not None
        session = self.session
        self.attempts += 1
        now = session.loop.time()
        ctx = PickContext(None, self.tried, now)
        if route.hash_of is not None:
            source = route.hash_of(self.head, session.client_ip)
            if source is not None:
                ctx.hash_key = hash_key(source)
        if route.sticky_cookie is not None:
            endpoint = self._sticky_endpoint(route, cluster, ctx)
        else:
            endpoint = cluster.pick(ctx)
        if endpoint is None:
            # On a retry with no other endpoint left, the client hears the last failure.
            self.fail_local(self.last_failure or Failure.NO_ENDPOINT)
            return
        self.endpoint = endpoint
        self.tried = (*self.tried, endpoint)
        limit = self.timeout if self.request_done else self._wait_limit()
        per_try = cluster.per_try_timeout
        self.per_try = bool(per_try and per_try < limit and self.request_done)
        session.deadline_kind = UPSTREAM
        session.deadline = now + (per_try if self.per_try else limit)
        # After a pooled connection turned out closed, the next try opens a new one; a request
        # that could not be retried after such a close waits for no pooled connection but a
        # proven one (UpstreamConnection.proven).
        if self.fresh_retry_used:
            conn = None
        elif self.head.method in IDEMPOTENT_METHODS:
            conn = cluster.pool.take_idle(endpoint, now)
        else:
            conn = cluster.pool.take_proven(endpoint, now)
        if conn is not None:
            self.send(conn)
            return
        limits = cluster.limits
        if not limits.try_acquire_connection() and not (
            preempt_stalled(cluster, now) and limits.try_acquire_connection()
        ):
            # At max_connections: wait in the cluster's bounded queue for a connection.
            if not limits.enqueue(self, now + limits.pending_timeout):
                self.reason = limits.reason("max_pending_requests")
                self.fail_local(Failure.OVERFLOW)
                return
            self.queued = True
            session.pause(PAUSE_BUFFERED)
            return
        self._open(endpoint)

    def _open(self, endpoint: Endpoint) -> None:
        """Open a new upstream connection; its slot under max_connections is already held."""
        assert self.cluster is not None
        self.session.pause(PAUSE_BUFFERED)
        task = asyncio.ensure_future(self.cluster.pool.connect(endpoint))
        task.add_done_callback(self._connected)
        self.connect_task = task

    # -- the pending queue (called by the pool and the app's ticker) ------------------------

    def take_connection(self, conn: UpstreamConnection) -> None:
        """A connection came free while this exchange waited: use it, whatever its endpoint."""
        self.queued = False
        session = self.session
        if session.closed or self.status:
            conn.pool.release(conn, session.now())  # to the next waiter, or idle
            return
        self.endpoint = conn.endpoint
        if conn.endpoint not in self.tried:
            self.tried = (*self.tried, conn.endpoint)
        if self.head.method not in IDEMPOTENT_METHODS and not conn.proven(session.now()):
            # Not for a request that could not be retried: its slot opens a new connection.
            conn.counted = False
            conn.close()
            self._open(conn.endpoint)
            return
        self.send(conn)
        conn.flush()

    def take_slot(self) -> None:
        """A connection slot came free while this exchange waited: open one."""
        self.queued = False
        if self.session.closed or self.status or self.endpoint is None:
            assert self.cluster is not None
            self.cluster.limits.release_connection()
            return
        self._open(self.endpoint)

    def pending_expired(self) -> None:
        self.queued = False
        assert self.cluster is not None
        self.reason = self.cluster.limits.reason("pending_timeout")
        self.fail_local(Failure.OVERFLOW)

    def _sticky_endpoint(
        self, route: Route[Cluster], cluster: Cluster, ctx: PickContext
    ) -> Endpoint | None:
        value = cookie_value(self.head.headers, route.sticky_cookie or b"")
        if value is not None:
            endpoint = cluster.sticky.find(value.decode("latin-1"), ctx, cluster.snapshot)
            if endpoint is not None:
                return endpoint
        endpoint = cluster.pick(ctx)
        if endpoint is not None:
            self.set_cookie = route.set_cookie_prefix % sticky_value(endpoint).encode()
        return endpoint

    def _connected(self, task: asyncio.Task[UpstreamConnection]) -> None:
        try:
            self._on_connected(task)
        except Exception:
            self.session.internal_error()

    def _on_connected(self, task: asyncio.Task[UpstreamConnection]) -> None:
        self.connect_task = None
        if task.cancelled():
            return
        exc = task.exception()
        if self.session.closed or self.status:
            if exc is None:
                task.result().close()
            return
        if exc is not None:
            failure = exc.failure if isinstance(exc, ConnectFailed) else Failure.CONNECT_ERROR
            self.upstream_failed(failure, str(exc))
            return
        self.send(task.result())

    def send(self, conn: UpstreamConnection) -> None:
        if conn.closed:
            self.upstream_failed(Failure.CONNECT_ERROR, "connection closed before use")
            return
        session = self.session
        if session.paused & PAUSE_BUFFERED:
            session.resume(PAUSE_BUFFERED)  # the body buffered so far leaves now
        self.conn = conn
        self.sent = True
        self.endpoint.active_requests += 1  # type: ignore[union-attr]
        self.upstream_start = time.perf_counter()
        data = self.request_bytes
        if self.body:
            data += b"".join(self.body)
            if not self.replayable:
                self.body.clear()
        if self.request_done and self.head.chunked:
            data += LAST_CHUNK
        # Within a client read the bytes wait for its end (and a body in the same read).
        conn.send(self, self.head.method, data, not self.session.feeding)

    def _wait_limit(self) -> float:
        """Envoy's rule: the request timeout runs once the whole request was received; while
        the body still streams in, the longer of it and the listener's idle timeout applies."""
        if self.request_done:
            return self.timeout
        return max(self.timeout, self.session.listener.idle_timeout)

    def on_request_body(self, data: bytes) -> None:
        session = self.session
        self.body_size += len(data)
        if session.current is self and session.deadline_kind != SEND:
            rate = session.listener.body_min_rate
            if rate and self.body_start:
                session.set_deadline(
                    BODY, self.body_start + session.listener.body_grace + self.body_size / rate
                )
            else:
                session.set_deadline(UPSTREAM, session.now() + self._wait_limit())
        framed = encode_chunk(data) if self.head.chunked else data
        conn = self.conn
        if conn is not None and self.sent:
            conn.write(framed)
            if self.replayable:
                if self.body_size <= (self.cluster.replay_limit if self.cluster else 0):
                    self.body.append(framed)
                else:
                    self.replayable = False
                    self.body.clear()
        else:
            self.body.append(framed)
            limit = session.listener.buffer_limit
            if self.body_size > limit:
                session.pause(PAUSE_BUFFERED)
            if self.cluster is not None and self.body_size > self.cluster.replay_limit:
                self.replayable = False
            if not self.dispatched and self.route is not None and self.body_size >= limit:
                self.dispatch()

    def on_request_end(self) -> None:
        self.request_done = True
        session = self.session
        if not self.dispatched and self.route is not None and self.status == 0:
            if session.current is self:
                self.dispatch()
            return
        if session.current is self and session.deadline_kind == BODY:
            session.set_deadline(UPSTREAM, session.now() + self.timeout)
        if session.current is self and not self.response_started and self.status == 0:
            cluster = self.cluster
            per_try = cluster.per_try_timeout if cluster is not None else 0.0
            self.per_try = bool(per_try and per_try < self.timeout)
            limit = per_try if self.per_try else self.timeout
            session.set_deadline(UPSTREAM, session.now() + limit)
        if self.head.chunked and self.conn is not None and self.sent:
            self.conn.write(LAST_CHUNK)
            if self.replayable:
                self.body.append(LAST_CHUNK)

    # -- response side (called by the upstream connection) -----------------------------------

    def on_response_informational(self, head: ResponseHead) -> None:
        """1xx other than 101. 103 Early Hints go to an HTTP/1.1 client (RFC 8297; no 1xx to
        HTTP/1.0, RFC 9110 §15.2); 100 Continue was answered by meshlb itself; the rest are
        dropped. A bounded number: an endless stream of them is a broken upstream."""
        self.interim += 1
        if self.interim > MAX_INTERIM:
            self._reject_response(f"more than {MAX_INTERIM} interim (1xx) responses")
            return
        if head.status == 103 and self.head.version == b"1.1":
            fields = b"".join([b"%s: %s\r\n" % p for p in head.headers])
            data = b"%s%s\r\n" % (_status_line(103, head.reason), fields)
            self.bytes_out += len(data)
            self.session.out.append(data)

    def _reject_response(self, reason: str) -> None:
        """The upstream answered what no request asked for: close that connection, and the
        client gets a 502 (the response had not started)."""
        conn, self.conn = self.conn, None
        if conn is not None:
            conn.abort()
        self._done_with_endpoint()
        self.response_started = False
        self.status = 0
        self.upstream_failed(Failure.BAD_RESPONSE, reason, retry=False)

    def on_response_head(self, head: ResponseHead) -> None:
        session = self.session
        route = self.route
        assert route is not None
        self.response_started = True
        status = self.status = head.status
        self.upstream_keep = head.keep_alive
        conn = self.conn
        if conn is not None:
            if head.idle_timeout is not None:
                conn.upstream_idle_timeout = head.idle_timeout
            if not self.request_done and not head.keep_alive:
                conn.refuse_body()
        now = session.loop.time()
        if self.endpoint is not None and self._observe(status, head, now) is None:
            return
        if status == 101:
            if self._upgrade_answered(head) and self.conn is not None:
                self._switch_protocols(head)
            else:
                self._reject_response("101 to a request that asked for no such upgrade")
            return
        session.deadline_kind = UPSTREAM
        session.deadline = now + self.timeout
        drop = route.response_drop
        raw = head.raw
        framed = False
        if drop:
            fields = [b"%s: %s\r\n" % p for p in head.headers if p[0] not in drop]
        elif raw is not None and (not head.chunked or self.head.version == b"1.1"):
            fields = [raw]  # as received, its Content-Length/Transfer-Encoding line included
            framed = True
        else:
            fields = [b"%s: %s\r\n" % p for p in head.headers]
        if route.response_add:
            fields += [b"%s: %s\r\n" % p for p in route.response_add]
        if self.set_cookie:
            fields.append(b"set-cookie: %s\r\n" % self.set_cookie)
        keep = self.keep_client and self.request_done and not session.listener.closing
        if head.content_length is not None:
            if not framed:
                fields.append(b"content-length: %d\r\n" % head.content_length)
        elif self.no_body or status in NO_BODY_STATUS:
            pass
        elif self.head.version == b"1.1":
            # Chunked, or unknown length: chunked for HTTP/1.1 clients (RFC 9112 §6.1).
            self.chunked_out = True
            if not (framed and head.chunked):
                fields.append(b"transfer-encoding: chunked\r\n")
        else:
            keep = False  # an HTTP/1.0 client learns the end of the body by the close
        # (Not keeping the client when its request body was not read to the end: the rest
        # would be parsed as a new request.)
        self.keep_client = keep
        if not keep:
            fields.append(b"connection: close\r\n")
        elif self.head.version == b"1.0":
            fields.append(b"connection: keep-alive\r\n")
        data = b"%s%s\r\n" % (_status_line(status, head.reason), b"".join(fields))
        self.bytes_out += len(data)
        self.unsent_head = data
        session.out.append(data)

    def _upgrade_answered(self, head: ResponseHead) -> bool:
        """A 101 switches to a protocol the request asked for (RFC 9110 §7.8)."""
        asked = self.head.upgrade
        if asked is None:
            return False
        offered = {token.strip().lower() for token in asked.split(b",")}
        chosen = [value for name, value in head.headers if name == b"upgrade"]
        return bool(chosen) and all(
            token.strip().lower() in offered for value in chosen for token in value.split(b",")
        )

    def _take_back_response(self) -> bool:
        """If no byte of the response reached the client yet (its head still waits in the
        session's output), drop it so that the client can get an error instead."""
        data = self.unsent_head
        if not data:
            return False
        out = self.session.out
        for i, item in enumerate(out):
            if item is data:
                self.bytes_out -= sum(len(part) for part in out[i:])
                del out[i:]
                self.unsent_head = b""
                self.response_started = False
                self.chunked_out = False
                self.status = 0
                return True
        return False

    def on_response_whole(
        self, status: int, reason: bytes, keep_alive: bool, raw: bytes, body: bytes
    ) -> None:
        """A whole response with its Content-Length body in one read (the reader's
        take_whole): head, body and end in one call. A response that needs any decision
        beyond forwarding it as received takes the three events instead."""
        session = self.session
        if (
            status >= 500
            or status == 429
            or not self.forward_as_received
            or not self.request_done
            or session.listener.closing
        ):
            head = ResponseHead(status, reason, b"1.1", None, keep_alive, len(body), False, raw)
            self.on_response_head(head)
            if self.conn is not None:  # not dropped for a retry
                if body:
                    self.on_response_body(body)
                self.on_response_end()
            session.flush()
            return
        self.response_started = True
        self.status = status
        self.upstream_keep = keep_alive
        now = session.loop.time()
        latency = self._observe(status, None, now)
        data = b"%s%s\r\n%s" % (_status_line(status, reason), raw, body)
        self.bytes_out += len(data)
        session.write(data)
        self._end_upstream(now, latency)

    def _observe(self, status: int, head: ResponseHead | None, now: float) -> float | None:
        """Feed the response's latency and status to the endpoint's state and the balancer.
        The latency in seconds, or None if the response is being dropped for a retry.
        (`head` is needed for a 429 or 503, whose Retry-After counts.)"""
        endpoint = self.endpoint
        cluster = self.cluster
        assert endpoint is not None and cluster is not None
        latency = time.perf_counter() - self.upstream_start
        # The average the admin API shows: an EWMA of time to the response head.
        ewma = endpoint.latency_ewma
        endpoint.latency_ewma = latency if not ewma else ewma + (latency - ewma) * 0.1
        if cluster.observe is not None:
            cluster.observe(endpoint, latency, now)
        retry_after = 0.0
        if (status == 429 or status == 503) and head is not None:
            for name, value in head.headers:
                if name == b"retry-after":
                    retry_after = parse_retry_after(value) or 0.0
        cluster.endpoint_set.record(endpoint, status, latency, now, retry_after)
        route = self.route
        assert route is not None
        if (status >= 500 or route.retry_status) and self._retry_status(status, retry_after):
            return None
        return latency

    def _retry_status(self, status: int, retry_after: float) -> bool:
        """retry_on gateway-error / 5xx / retriable-status-codes: if this status may be retried,
        drop the response unseen (the client has received nothing of it) and try again on
        another endpoint, after the backoff or the Retry-After the upstream asked for."""
        policy = self.retry_policy()
        if not policy.retriable_status(status):
            return False
        cluster = self.cluster
        assert cluster is not None
        replayable = self.replayable and self.request_done
        decision = policy.decide(
            status, self.attempts, self.head.method, replayable, False, retry_after or None, _RNG
        )
        if decision.delay is None or not cluster.limits.try_acquire_retry():
            return False
        conn, self.conn = self.conn, None
        if conn is not None:
            conn.abort()  # the rest of this response is not wanted
        self._done_with_endpoint()
        self.holds += 2
        self.response_started = False
        self.status = 0
        self.reason = f"upstream answered {status}"
        session = self.session
        cluster.retries += 1
        self.retry_timer = session.loop.call_later(decision.delay, self._retry_later)
        return True

    def _switch_protocols(self, head: ResponseHead) -> None:
        """101: forward the head, then both connections become one byte pipe (RFC 9110 §7.8)."""
        assert self.conn is not None and self.route is not None
        parts = [status_line(101, head.reason)]
        for pair in head.headers:
            parts.append(b"%s: %s\r\n" % pair)
        parts.append(b"connection: upgrade\r\n\r\n")
        self.session.out.append(b"".join(parts))
        self.session.deadline = 0.0
        self.conn.switching = True

    def on_tunnel_open(self, upstream_held: bytes) -> None:
        """Called by the upstream connection once its parser let go of the stream."""
        session = self.session
        conn = self.conn
        assert conn is not None
        session.tunnel = conn
        if upstream_held:
            session.write(upstream_held)
        client_held = session.parser.detach()
        session.resume(PAUSE_UPGRADE)
        if client_held:
            conn.write(client_held)
            conn.flush()

    def on_tunnel_data(self, data: bytes) -> None:
        self.bytes_out += len(data)
        self.session.write(data)

    def on_response_body(self, data: bytes) -> None:
        self.bytes_out += len(data)
        session = self.session
        session.deadline = session.loop.time() + self.timeout
        session.out.append(encode_chunk(data) if self.chunked_out else data)

    def on_response_end(self) -> None:
        session = self.session
        if session.tunnel is not None or (self.conn is not None and self.conn.switching):
            return  # the end of a 101 head: the connection now carries another protocol
        if self.chunked_out:
            session.out.append(LAST_CHUNK)
        self._end_upstream(session.loop.time())

    def _end_upstream(self, now: float, latency: float | None = None) -> None:
        """The response is complete: account for it, give the connection back, finish.
        `latency`: the request's duration upstream, if already taken."""
        conn = self.conn
        self.conn = None
        if conn is not None:
            self._done_with_endpoint()
            cluster = self.cluster
            assert cluster is not None
            if latency is None:
                latency = time.perf_counter() - self.upstream_start
            cluster.record_latency(latency)
            if self.request_done and self.upstream_keep and conn.parser.idle:
                cluster.pool.release(conn, now)
            else:
                conn.close()
        self.session.exchange_done(self, now)

    def on_response_error(self, reason: str) -> None:
        self.conn = None
        self._done_with_endpoint()
        if self.response_started and not self._take_back_response():
            self.reason = f"upstream broke mid-response: {reason}"
            self.session.abort_exchange(self)
        else:
            self.upstream_failed(Failure.BAD_RESPONSE, reason, retry=False)

    def on_upstream_lost(self, exc: Exception | None) -> None:
        conn, self.conn = self.conn, None
        self._done_with_endpoint()
        if self.session.tunnel is not None:
            self.session.close()
            return
        if self.response_started and not self._take_back_response():
            self.reason = "upstream closed mid-response"
            self.session.abort_exchange(self)
            return
        stale = conn is not None and conn.requests > 1 and not conn.received
        if stale and not self.fresh_retry_used and self._may_resend():
            # RFC 9112 §9.3.1: a pooled connection closed by the upstream before our request
            # reached it; try once more on a new connection to the same endpoint.
            self.fresh_retry_used = True
            self.attempts -= 1
            self.tried = self.tried[:-1]
            self._retry()
            return
        detail = str(exc) if exc else "connection closed"
        if stale:
            detail = f"a reused connection closed before any response byte ({detail})"
        self.upstream_failed(Failure.RESET, detail)

    def flush(self) -> None:
        self.session.flush()

    def on_internal_error(self) -> None:
        self.conn = None
        self._done_with_endpoint()
        self.session.internal_error()

    def on_upstream_pause_writing(self) -> None:
        self.session.pause(PAUSE_UPSTREAM_FULL)

    def on_upstream_resume_writing(self) -> None:
        self.session.resume(PAUSE_UPSTREAM_FULL)

    # -- failures and retries ---------------------------------------------------------------

    def _done_with_endpoint(self) -> None:
        endpoint = self.endpoint
        if endpoint is not None and self.sent:
            endpoint.active_requests -= 1
            endpoint.total_requests += 1
            self.sent = False

    def _may_resend(self) -> bool:
        return self.head.method in IDEMPOTENT_METHODS and self.replayable and self.request_done

    def upstream_failed(self, failure: Failure, detail: str, retry: bool = True) -> None:
        cluster = self.cluster
        assert cluster is not None
        session = self.session
        if self.endpoint is not None:
            latency = time.perf_counter() - self.upstream_start if self.upstream_start else 0.0
            cluster.endpoint_set.record(self.endpoint, fault_of(failure), latency, session.now())
        replayable = self.replayable and (self.request_done or failure.connect_stage)
        decision = self.retry_policy().decide(
            failure, self.attempts, self.head.method, replayable, False, None, _RNG
        )
        text = f"{failure.text}: {detail}" if detail else failure.text
        if retry and decision.delay is not None:
            if cluster.limits.try_acquire_retry():
                self.holds += 2
                self.last_failure = failure
                self.reason = text
                cluster.retries += 1
                self.retry_timer = session.loop.call_later(decision.delay, self._retry_later)
                return
            decision = decision._replace(why="not retried: retry budget exhausted")
        self.reason = f"{text}; {decision.why}" if retry else text
        if failure.connect_stage:
            # Envoy's answer too: nothing upstream could be reached is "unavailable" (503).
            self.reason = f"no upstream endpoint reachable ({self.reason})"
            failure = Failure.NO_ENDPOINT
        self.fail_local(failure)

    def retry_policy(self) -> RetryPolicy:
        route = self.route
        if route is not None and route.retry_policy is not None:
            policy: RetryPolicy = route.retry_policy
            return policy
        assert self.cluster is not None
        return self.cluster.retry

    def _retry_later(self) -> None:
        self.retry_timer = None
        if self.session.closed or self.status:
            return
        self._retry()

    def release_holds(self) -> None:
        if self.client_slot:
            self.client_slot = False
            in_flight = self.session.listener.in_flight
            ip = self.session.client_ip
            count = in_flight.get(ip, 0) - 1
            if count > 0:
                in_flight[ip] = count
            else:
                in_flight.pop(ip, None)
        cluster = self.cluster
        holds, self.holds = self.holds, 0
        if cluster is None or not holds:
            return
        if holds & 1:
            cluster.limits.release_request()
        for _ in range(holds // 2):
            cluster.limits.release_retry()

    def _retry(self) -> None:
        self.sent = False
        self.attempt()

    def on_timeout(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            conn.abort()
        self._done_with_endpoint()
        if self.connect_task is not None:
            self.connect_task.cancel()
            self.connect_task = None
        if self.per_try and not self.response_started:
            self.per_try = False
            self.upstream_failed(Failure.TIMEOUT, "per-try timeout")
            return
        if self.response_started and not self._take_back_response():
            self.reason = "upstream timeout mid-response"
            self.session.abort_exchange(self)
        else:
            self.reason = Failure.TIMEOUT.text
            self.fail_local(Failure.TIMEOUT)

    def on_body_timeout(self) -> None:
        """The request body arrived below body_min_rate: 408, and whatever went upstream is
        dropped (the client hears of it only if no response byte reached it)."""
        self.reason = Failure.BODY_TIMEOUT.text
        if self.response_started and not self._take_back_response():
            self.cancel()
            self.session.abort_exchange(self)
            return
        self.cancel()
        self.session.listener.stats.local_failures["BODY_TIMEOUT"] += 1
        self.fail_local(Failure.BODY_TIMEOUT)

    def fail_local(self, failure: Failure) -> None:
        session = self.session
        session.listener.stats.local_failures[failure.name] += 1
        if not self.reason:
            self.reason = failure.text
        self.status = failure.status
        keep = self.keep_client and self.request_done and not session.listener.closing
        self.keep_client = keep
        body = failure.text.encode() + b"\n"
        data = simple_response(
            failure.status,
            body,
            close=not keep,
            extra=[(b"x-meshlb-reason", failure.name.lower().encode())],
        )
        self.bytes_out += len(data)
        session.write(data)
        session.exchange_done(self, session.now())

    def cancel(self) -> None:
        """The client went away (or is sent away): release everything this exchange holds."""
        if self.queued and self.cluster is not None:
            self.cluster.limits.remove(self)
            self.queued = False
        if self.retry_timer is not None:
            self.retry_timer.cancel()
            self.retry_timer = None
        if self.sent and self.endpoint is not None and self.cluster is not None:
            self.cluster.endpoint_set.record(
                self.endpoint, Fault.CANCELLED, 0.0, self.session.now()
            )
        self.release_holds()
        if self.connect_task is not None:
            self.connect_task.cancel()
            self.connect_task = None
        conn, self.conn = self.conn, None
        if conn is not None:
            conn.abort()
        self._done_with_endpoint()


class HttpSession(asyncio.Protocol):
    """One downstream HTTP/1.1 connection."""

    __slots__ = (
        "listener",
        "transport",
        "parser",
        "client_ip",
        "trusted",
        "peer_fields",
        "current",
        "reading",
        "queue",
        "paused",
        "closed",
        "deadline",
        "deadline_kind",
        "loop",
        "pending_error",
        "out",
        "got_bytes",
        "tunnel",
        "feeding",
        "client_eof",
        "lingering",
    )

    def __init__(self, listener: ListenerContext) -> None:
        self.listener = listener
        self.transport: asyncio.Transport | None = None
        self.parser = make_request_parser(listener.codec, self, listener.limits)
        self.client_ip = b"-"
        self.trusted = False  # the peer is one of the listener's trusted_proxies
        self.peer_fields = peer_fields(self.client_ip)
        self.current: Exchange | None = None
        self.reading: Exchange | None = None  # the exchange whose request is being parsed
        self.queue: deque[Exchange] = deque()
        self.paused = 0
        self.closed = False
        self.deadline = 0.0
        self.deadline_kind = 0
        self.loop = asyncio.get_running_loop()
        self.pending_error = b""
        self.tunnel: UpstreamConnection | None = None  # set once an upgrade switched protocols
        self.feeding = False  # inside data_received: upstream writes wait for its end
        self.client_eof = False  # the client half-closed: close once the queue is answered
        self.lingering = False  # answered and closing: what the client still sends is dropped
        self.got_bytes = False  # bytes of a next request arrived since the last response
        self.out: list[bytes] = []  # response bytes parsed from one upstream read, sent at once

    def now(self) -> float:
        return self.loop.time()

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        # Response bytes waiting for the client: at most buffer_limit, then the upstream pauses.
        transport.set_write_buffer_limits(high=self.listener.buffer_limit)  # type: ignore[attr-defined]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer = transport.get_extra_info("peername")
        listener = self.listener
        if peer:
            self.client_ip = str(peer[0]).encode()
            self.peer_fields = peer_fields(self.client_ip)
            self.trusted = listener.trusted_proxies.trusts(str(peer[0]))
        listener.sessions.add(self)
        listener.stats.downstream_connections_total += 1
        self.set_deadline(HEADER, self.now() + listener.header_timeout)

    def data_received(self, data: bytes) -> None:
        if self.current is None and self.tunnel is None:
            if self.lingering:
                return
            # Between requests, a read that is one whole common request skips the reader.
            head = self.parser.take_whole(data)
            if head is not None:
                self.got_bytes = True
                self.on_request_head(head)
                return
        if self.tunnel is not None:
            self.tunnel.write(data)
            self.tunnel.flush()
            return
        self.got_bytes = True
        if self.deadline_kind == IDLE:
            self.set_deadline(HEADER, self.now() + self.listener.header_timeout)
        self.feeding = True
        try:
            self.parser.feed(data)
        except Exception:
            self.feeding = False
            self.internal_error()
            return
        self.feeding = False
        reading = self.reading
        if (
            reading is not None
            and reading.head.upgrade is not None
            and self.parser.held_bytes() > MAX_HELD
        ):
            self.pause(PAUSE_UPGRADE)  # another protocol's bytes: held, within a bound
        # Upstream bytes produced by this read leave only now, once all of it parsed: a
        # malformed body later in the same read means the head never left either.
        current = self.current
        if current is not None and current.conn is not None:
            current.conn.flush()

    def internal_error(self) -> None:
        """A bug must cost one connection, never the worker: answer 500 if we still can."""
        log.exception("internal error on a connection from %s", self.client_ip.decode())
        self.listener.stats.local_failures["INTERNAL_ERROR"] += 1
        current, self.current = self.current, None
        if current is not None:
            current.cancel()
            if current.response_started:
                if self.transport is not None:
                    self.transport.abort()
                return
        self.out.clear()
        self.write(simple_response(500, b"internal error\n", close=True))
        self.close()

    def eof_received(self) -> bool:
        self.parser.feed_eof()
        if self.current is None or self.tunnel is not None:
            self.close()
            return False
        # Half-close (RFC 9112 §9.6): answer every request already received, then close.
        self.client_eof = True
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        if self.closed:
            return
        self.closed = True
        _STALLED.pop(self, None)
        listener = self.listener
        listener.sessions.discard(self)
        if self.current is not None:
            self.current.cancel()
            self.current = None
        self.queue.clear()

    def pause_writing(self) -> None:
        current = self.current
        if current is None:
            return
        now = self.now()
        _STALLED[self] = now
        if current.conn is not None:
            current.conn.pause_reading()
        if current.response_started or self.tunnel is not None:
            self.set_deadline(SEND, now + self.listener.send_timeout)

    def resume_writing(self) -> None:
        _STALLED.pop(self, None)
        current = self.current
        if current is None:
            return
        if current.conn is not None:
            current.conn.resume_reading()
        if self.deadline_kind == SEND:
            self.set_deadline(UPSTREAM, 0.0 if self.tunnel else self.now() + current.timeout)

    def preempt(self) -> None:
        """A limit is full and this client stopped reading: its exchange gives up its slots
        (and its upstream connection) at once, and the client is disconnected."""
        _STALLED.pop(self, None)
        current = self.current
        if current is None:
            return
        current.reason = "client stopped reading while a limit was full: slots given up"
        current.cancel()
        self.abort_exchange(current)

    # -- request parser sink ----------------------------------------------------------------

    def on_request_head(self, head: RequestHead) -> None:
        listener = self.listener
        listener.stats.requests_total += 1
        # (The start time is read only for the access log, the one thing that uses it.)
        start = time.perf_counter() if listener.access_log is not None else 0.0
        exchange = Exchange(self, head, start)
        self.reading = exchange
        if self.current is None:
            self.current = exchange
            self.deadline_kind = 0
            exchange.begin()
        else:
            self.queue.append(exchange)
            if len(self.queue) >= MAX_PIPELINE:
                self.pause(PAUSE_PIPELINE)

    def on_request_body(self, data: bytes) -> None:
        if self.reading is not None:
            self.reading.on_request_body(data)

    def on_request_end(self) -> None:
        if self.reading is not None:
            self.reading.on_request_end()

    def on_request_error(self, status: int, reason: str) -> None:
        """Invalid request: answer `status` and close, after any response in flight."""
        self.listener.stats.local_failures[f"BAD_REQUEST_{status}"] += 1
        self.listener.unrouted[status // 100] += 1
        data = simple_response(status, reason.encode() + b"\n", close=True)
        log.debug("rejected request from %s: %d %s", self.client_ip, status, reason)
        self.queue.clear()
        reading, self.reading = self.reading, None
        current = self.current
        if current is not None and reading is current and not current.request_done:
            # The body of the request in flight is invalid: whatever went upstream is void.
            # Drop the exchange (aborting its upstream connection) and answer the error,
            # unless response bytes already reached the client, who then sees a reset.
            self.current = None
            current.cancel()
            current.reason = reason
            if current.response_started:
                if self.transport is not None:
                    self.transport.abort()
                return
            self.out.clear()
            current = None
        if current is None:
            self.write(data)
            self.close()
        else:
            current.keep_client = False
            self.pending_error = data

    # -- used by exchanges ------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        if self.out:
            self.out.append(data)
            self.flush()
            return
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(data)

    def flush(self) -> None:
        """Send what the last upstream read produced in one write (one syscall, no Nagle gap)."""
        out = self.out
        if out:
            data = out[0] if len(out) == 1 else b"".join(out)
            out.clear()
            transport = self.transport
            if transport is not None and not transport.is_closing():
                transport.write(data)

    def pause(self, reason: int) -> None:
        if not self.paused and self.transport is not None and not self.closed:
            self.transport.pause_reading()
        self.paused |= reason

    def resume(self, reason: int) -> None:
        if not self.paused & reason:
            return
        self.paused &= ~reason
        if not self.paused and self.transport is not None and not self.closed:
            self.transport.resume_reading()

    def set_deadline(self, kind: int, at: float) -> None:
        self.deadline_kind = kind
        self.deadline = at

    def exchange_done(self, exchange: Exchange, now: float) -> None:
        if exchange.holds:
            exchange.release_holds()
        listener = self.listener
        route = exchange.route
        status = exchange.status
        counts = route.responses if route is not None else listener.unrouted
        counts[status // 100 if status < 600 else 5] += 1
        if listener.access_log is not None:
            self._log(exchange, time.perf_counter())
        if exchange is not self.current:
            return
        self.current = None
        self.got_bytes = bool(self.queue)
        if self.paused & PAUSE_BUFFERED:
            self.resume(PAUSE_BUFFERED)
        if not exchange.keep_client or self.closed:
            if self.pending_error:
                self.write(self.pending_error)
            if exchange.request_done or self.closed:
                self.close()
            else:
                self.linger(now)
            return
        if self.queue:
            self.current = nxt = self.queue.popleft()
            self.resume(PAUSE_PIPELINE)
            nxt.begin()
            return
        if listener.closing or self.client_eof:
            self.close()
            return
        self.deadline_kind = IDLE
        self.deadline = now + listener.idle_timeout
        if exchange.head.upgrade is not None:
            self.parser.resume()  # the upgrade was refused: held bytes are HTTP/1.1 again
            self.resume(PAUSE_UPGRADE)

    def abort_exchange(self, exchange: Exchange) -> None:
        """A response broke after bytes went to the client: the client must see it broken."""
        exchange.release_holds()
        listener = self.listener
        listener.stats.local_failures["UPSTREAM_ABORTED"] += 1
        exchange.status = exchange.status or 502
        if listener.access_log is not None:
            self._log(exchange, time.perf_counter())
        log.info("aborting client connection: %s", exchange.reason)
        if self.transport is not None:
            self.transport.abort()

    def on_deadline(self, now: float) -> None:
        kind = self.deadline_kind
        self.deadline = 0.0
        current = self.current
        if kind == UPSTREAM and current is not None:
            current.on_timeout()
        elif kind == BODY and current is not None:
            if self.paused:  # meshlb stopped reading: that time is not the client's
                self.set_deadline(BODY, now + self.listener.body_grace)
            else:
                current.on_body_timeout()
        elif kind == SEND and current is not None:
            current.reason = (
                f"client read nothing for send_timeout ({self.listener.send_timeout:g}s)"
            )
            current.cancel()
            self.abort_exchange(current)
        elif kind == HEADER:
            if self.current is None and not self.got_bytes:
                self.close()  # nothing was sent: a silent idle connection
                return
            data = simple_response(408, b"request header timeout\n", close=True)
            self.listener.stats.local_failures["REQUEST_TIMEOUT"] += 1
            self.write(data)
            self.close()
        elif kind in (IDLE, DRAIN):
            self.close()

    def linger(self, now: float) -> None:
        """Close after answering a request whose body the client is still sending: shut our
        side, then read and drop what it sends for up to LINGER_TIME. Closing at once would
        make the client's kernel answer its next bytes with a reset, and a reset can destroy
        the response before the client reads it (nginx's lingering close)."""
        self.flush()
        transport = self.transport
        if transport is None or transport.is_closing() or not transport.can_write_eof():
            self.close()
            return
        self.lingering = True
        transport.write_eof()
        if self.paused:
            self.paused = 0
            transport.resume_reading()
        self.set_deadline(DRAIN, now + LINGER_TIME)

    def close(self) -> None:
        self.flush()
        if self.tunnel is not None:
            self.tunnel.close()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def shutdown(self) -> None:
        """Graceful shutdown: idle connections close now, busy ones after their response."""
        if self.current is None or self.tunnel is not None:
            self.close()

    def _log(self, exchange: Exchange, now: float) -> None:
        head = exchange.head
        access_log = self.listener.access_log
        assert access_log is not None
        access_log.write(
            AccessEntry(
                ts=access_log.now(),
                listener=self.listener.name,
                client=self.client_ip.decode(),
                method=head.method.decode(),
                path=head.target.decode("latin-1"),
                status=exchange.status,
                route=exchange.route.name if exchange.route else "",
                cluster=exchange.cluster.name if exchange.cluster else "",
                endpoint=exchange.endpoint.address if exchange.endpoint else "",
                bytes_in=exchange.body_size,
                bytes_out=exchange.bytes_out,
                # (0 for a request that began before a reload turned the log on)
                duration_ms=round((now - exchange.start) * 1000, 3) if exchange.start else 0.0,
                upstream_ms=round((now - exchange.upstream_start) * 1000, 3)
                if exchange.upstream_start
                else 0.0,
                attempts=exchange.attempts,
                request_id=(exchange.request_id or b"").decode("latin-1"),
                reason=exchange.reason if exchange.status >= 400 else "",
                pid=self.listener.pid,
            )
        )

    def __repr__(self) -> str:
        return f"<HttpSession {self.client_ip.decode()} queued={len(self.queue)}>"


def preempt_stalled(cluster: Cluster, now: float) -> bool:
    """A limit of `cluster` is full: the session that stopped reading longest ago (at least
    STALL_PREEMPT_AFTER) and holds an exchange of that cluster gives its slots up. True if
    one did: one slow peer cannot hold limits that everyone shares."""
    for session, since in _STALLED.items():
        if now - since < STALL_PREEMPT_AFTER:
            return False
        current = session.current
        if current is not None and current.cluster is cluster and current.holds:
            session.preempt()
            return True
    return False
