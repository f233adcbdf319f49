"""The configuration as frozen, typed msgspec Structs.

Every table forbids unknown keys. Units are parsed by `meshlb.config.units` through the
decoder hook in `meshlb.config.load`; cross-references (routes naming clusters, addresses,
regexes) are checked there too, so that runtime code only ever sees a valid `Config`.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from meshlb.balance.options import BalancerOptions
from meshlb.config.units import Duration, Size
from meshlb.health.config import HealthCheckConfig, OutlierConfig
from meshlb.health.remediation import RemediationConfig
from meshlb.resilience.config import LimitsConfig, RetryConfig


class EndpointConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    address: str
    weight: Annotated[int, Meta(ge=0, le=10_000)] = 1


class PoolConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    max_idle: Annotated[int, Meta(ge=0)] = 64  # idle keep-alive connections kept per endpoint
    idle_timeout: Duration = Duration(60.0)


class ClusterConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    endpoints: list[str | EndpointConfig]
    balancer: str = "round_robin"
    lb: BalancerOptions = msgspec.field(default_factory=BalancerOptions)
    connect_timeout: Duration = Duration(2.0)
    timeout: Duration = Duration(30.0)  # whole upstream response, unless the route overrides it
    pool: PoolConfig = msgspec.field(default_factory=PoolConfig)
    health: HealthCheckConfig | None = None  # active checks; None = off
    outlier: OutlierConfig = msgspec.field(default_factory=OutlierConfig)
    limits: LimitsConfig = msgspec.field(default_factory=LimitsConfig)
    retry: RetryConfig = msgspec.field(default_factory=RetryConfig)
    on_unhealthy: RemediationConfig | None = None  # remediation hook; None = none


class MatchConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    host: str | list[str] | None = None  # exact, or "*.example.com" suffix wildcards
    path_prefix: str | None = None
    path_exact: str | None = None
    path_regex: str | None = None
    methods: list[str] | None = None
    headers: dict[str, str] | None = None  # exact value; "*" means present


class HashKeyConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    header: str | None = None
    cookie: str | None = None
    source_ip: bool = False
    path: bool = False
    query_parameter: str | None = None


class StickyConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Cookie stickiness: meshlb sets `cookie` to name the endpoint that served the client."""

    cookie: str = "meshlb_sticky"
    ttl: Duration | None = None  # Max-Age of the cookie; None = a session cookie
    path: str = "/"


class RouteConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    cluster: str
    name: str | None = None
    listeners: list[str] | None = None  # None = every HTTP listener
    match: MatchConfig = msgspec.field(default_factory=MatchConfig)
    prefix_rewrite: str | None = None
    timeout: Duration | None = None
    request_headers_add: dict[str, str] = msgspec.field(default_factory=dict)
    request_headers_remove: list[str] = msgspec.field(default_factory=list)
    response_headers_add: dict[str, str] = msgspec.field(default_factory=dict)
    response_headers_remove: list[str] = msgspec.field(default_factory=list)
    hash_key: HashKeyConfig | None = None
    retry: RetryConfig | None = None  # overrides the cluster's retry policy for this route
    sticky: StickyConfig | None = None


class ListenerConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    address: str
    name: str | None = None
    protocol: Literal["http", "tcp"] = "http"
    cluster: str | None = None  # tcp listeners: the cluster every connection goes to
    codec: Literal["llhttp", "h11"] = "llhttp"
    max_header_bytes: Size = Size(64 * 1024)
    max_headers: Annotated[int, Meta(ge=1)] = 100
    max_target_bytes: Size = Size(8 * 1024)
    max_body_bytes: Size = Size(0)  # 0 = unlimited
    header_timeout: Duration = Duration(10.0)
    idle_timeout: Duration | None = None  # default: 60s for http, 1h for tcp
    absolute_form: Literal["reject", "rewrite"] = "reject"
    via: str = "meshlb"  # pseudonym in the Via header; "" disables it
    # Peers (addresses or CIDR networks) whose X-Forwarded-*, X-Real-IP and Forwarded are
    # believed and extended; from any other peer they are replaced.
    trusted_proxies: list[str] = msgspec.field(default_factory=list)
    # Protocols a request may upgrade to; an Upgrade naming others is ignored.
    upgrade: list[str] = msgspec.field(default_factory=lambda: ["websocket"])
    # Slow clients. A request body must keep arriving at body_min_rate bytes/s (0: no floor)
    # once body_grace has passed, or it is answered 408; a client that reads nothing of its
    # response for send_timeout loses the connection. Each connection buffers at most
    # buffer_limit bytes each way. max_requests_per_client caps the requests in flight from
    # one client address on this listener (0: no cap).
    body_min_rate: Size = Size(1024)
    body_grace: Duration = Duration(5.0)
    send_timeout: Duration = Duration(60.0)
    buffer_limit: Size = Size(64 * 1024)
    max_requests_per_client: Annotated[int, Meta(ge=0)] = 0


class AdminConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The admin API and status page. Bound to loopback unless configured otherwise."""

    address: str = "127.0.0.1:9901"
    enabled: bool = True
    token: str | None = None  # when set, every request needs "Authorization: Bearer TOKEN"
    allow_insecure: bool = False  # serve a non-loopback address without a token


class Config(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    listeners: list[ListenerConfig]
    clusters: dict[str, ClusterConfig]
    routes: list[RouteConfig] = msgspec.field(default_factory=list)
    access_log: str = "off"  # "off", "stdout", "stderr" or a file path
    drain_timeout: Duration = Duration(30.0)
    admin: AdminConfig = msgspec.field(default_factory=AdminConfig)
    workers: Annotated[int, Meta(ge=1, le=256)] | Literal["auto"] = 1  # "auto" = one per core
