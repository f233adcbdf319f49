"""Per-listener state shared by its sessions, prepared once at config load."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from meshlb.accesslog import AccessLog
from meshlb.config.schema import ListenerConfig
from meshlb.protocol.messages import H1Limits
from meshlb.proxy.forwarding import TrustedProxies
from meshlb.routing import Router
from meshlb.stats import Stats

if TYPE_CHECKING:
    from meshlb.cluster.cluster import Cluster
    from meshlb.proxy.http import HttpSession


class ListenerContext:
    __slots__ = (
        "name",
        "config",
        "router",
        "limits",
        "codec",
        "via",
        "header_timeout",
        "idle_timeout",
        "sessions",
        "stats",
        "access_log",
        "closing",
        "scheme",
        "_rid_prefix",
        "_rid_next",
        "unrouted",
        "pid",
        "static_fields",
        "proto_field",
        "via_field",
        "trusted_proxies",
        "body_min_rate",
        "body_grace",
        "send_timeout",
        "buffer_limit",
        "per_client_cap",
        "in_flight",
    )

    def __init__(
        self,
        name: str,
        config: ListenerConfig,
        router: Router[Cluster],
        stats: Stats,
        access_log: AccessLog | None,
    ) -> None:
        self.name = name
        self.config = config
        self.router = router
        self.limits = H1Limits(
            max_header_bytes=config.max_header_bytes,
            max_headers=config.max_headers,
            max_target_bytes=config.max_target_bytes,
            max_body_bytes=config.max_body_bytes,
            absolute_form=config.absolute_form,
            upgrade=frozenset(protocol.lower().encode() for protocol in config.upgrade),
        )
        self.codec = config.codec
        self.via = b"1.1 " + config.via.encode() if config.via else b""
        self.header_timeout = float(config.header_timeout)
        self.idle_timeout = float(config.idle_timeout) if config.idle_timeout is not None else 60.0
        self.sessions: set[HttpSession] = set()
        self.stats = stats
        self.access_log = access_log
        self.closing = False
        self.pid = os.getpid()
        self.unrouted = [0] * 6  # responses to requests no route took (404, 4xx rejects)
        self.scheme = b"http"
        # Added to every forwarded request, prepared once.
        self.proto_field = b"x-forwarded-proto: %s\r\n" % self.scheme
        self.via_field = b"via: %s\r\n" % self.via if self.via else b""
        self.static_fields = self.proto_field + self.via_field
        self.trusted_proxies = TrustedProxies(config.trusted_proxies)
        self.body_min_rate = float(config.body_min_rate)
        self.body_grace = float(config.body_grace)
        self.send_timeout = float(config.send_timeout)
        self.buffer_limit = max(4096, int(config.buffer_limit))
        self.per_client_cap = config.max_requests_per_client
        self.in_flight: dict[bytes, int] = {}  # requests per client address, with a cap
        self._rid_prefix = os.urandom(6).hex().encode() + b"-"
        self._rid_next = 0

    def update(self, other: ListenerContext) -> None:
        """Take the routes and limits of a reloaded config; sessions see them from their next
        request on (their codec and parser stay as they were)."""
        self.config = other.config
        self.router = other.router
        self.limits = other.limits
        self.codec = other.codec
        self.via = other.via
        self.static_fields = other.static_fields
        self.proto_field = other.proto_field
        self.via_field = other.via_field
        self.trusted_proxies = other.trusted_proxies  # for connections made from now on
        self.header_timeout = other.header_timeout
        self.idle_timeout = other.idle_timeout
        self.body_min_rate = other.body_min_rate
        self.body_grace = other.body_grace
        self.send_timeout = other.send_timeout
        self.buffer_limit = other.buffer_limit
        self.per_client_cap = other.per_client_cap
        self.access_log = other.access_log

    def request_id(self) -> bytes:
        """A unique id: a random per-process prefix and a counter (cheaper than uuid4)."""
        self._rid_next += 1
        return self._rid_prefix + b"%08x" % self._rid_next

    def sweep(self, now: float) -> None:
        for session in list(self.sessions):
            if session.deadline and session.deadline <= now:
                session.on_deadline(now)
