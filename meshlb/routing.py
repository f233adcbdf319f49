"""Request routing: the first route whose match accepts the request wins (pure, no I/O).

Everything a route needs per request is prepared here at config load: lower-cased byte
strings, host sets and wildcard suffixes, compiled regexes, the header lists to add and the
names to drop. A route with no conditions matches with a single attribute test.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Generic, TypeVar

from meshlb.config.schema import HashKeyConfig, RouteConfig
from meshlb.protocol.messages import Headers, RequestHead
from meshlb.resilience.retry import RetryPolicy

C = TypeVar("C")

# Request headers meshlb handles itself (Expect: 100-continue is answered by meshlb). The
# forwarding fields, X-Forwarded-* and the like, depend on the peer: see proxy/forwarding.py.
PROXY_SET_REQUEST_HEADERS = frozenset({b"expect"})


def _header_pairs(table: dict[str, str]) -> Headers:
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in table.items()]


class Route(Generic[C]):
    """A compiled route. `cluster` is whatever object the application binds the name to."""

    __slots__ = (
        "name",
        "cluster",
        "unconditional",
        "hosts",
        "host_suffixes",
        "path_prefix",
        "path_exact",
        "path_regex",
        "methods",
        "headers",
        "prefix_rewrite",
        "timeout",
        "request_add",
        "request_drop",
        "response_add",
        "response_drop",
        "hash_key",
        "listeners",
        "hash_of",
        "sticky_cookie",
        "set_cookie_prefix",
        "responses",
        "retry_policy",
        "plain_request",
        "plain_forward",
        "forward_response",
        "retry_status",
    )

    def __init__(self, config: RouteConfig, cluster: C, index: int) -> None:
        m = config.match
        self.name = config.name or f"route{index}"
        self.cluster = cluster
        self.listeners = frozenset(config.listeners) if config.listeners is not None else None
        hosts = [m.host] if isinstance(m.host, str) else (m.host or [])
        self.hosts = frozenset(h.lower().encode() for h in hosts if not h.startswith("*."))
        self.host_suffixes = tuple(h[1:].lower().encode() for h in hosts if h.startswith("*."))
        self.path_prefix = m.path_prefix.encode() if m.path_prefix is not None else None
        self.path_exact = m.path_exact.encode() if m.path_exact is not None else None
        self.path_regex = re.compile(m.path_regex.encode()) if m.path_regex is not None else None
        self.methods = frozenset(x.upper().encode() for x in m.methods) if m.methods else None
        self.headers = (
            tuple((k.lower().encode(), v.encode()) for k, v in m.headers.items())
            if m.headers
            else None
        )
        self.unconditional = not (
            hosts
            or self.path_prefix
            or self.path_exact
            or self.path_regex
            or self.methods
            or self.headers
        )
        self.prefix_rewrite = (
            config.prefix_rewrite.encode() if config.prefix_rewrite is not None else None
        )
        self.timeout = config.timeout
        self.request_add = _header_pairs(config.request_headers_add)
        self.request_drop = PROXY_SET_REQUEST_HEADERS | frozenset(
            n.lower().encode() for n in config.request_headers_remove
        )
        self.response_add = _header_pairs(config.response_headers_add)
        self.response_drop = frozenset(n.lower().encode() for n in config.response_headers_remove)
        # No request header to remove: the codec's raw field lines can be forwarded as they are.
        self.plain_request = not config.request_headers_remove
        # Requests go out as received plus the forwarding fields: no rewrite, nothing added.
        self.plain_forward = (
            self.plain_request and self.prefix_rewrite is None and not self.request_add
        )
        self.hash_key: HashKeyConfig | None = config.hash_key
        self.responses = [0] * 6  # responses sent, by status class (index = status // 100)
        self.retry_policy = RetryPolicy(config.retry) if config.retry is not None else None
        # Statuses below 500 are only worth a look when retriable_status_codes names some.
        policy = self.retry_policy or getattr(cluster, "retry", None)
        self.retry_status = bool(policy is not None and any(c < 500 for c in policy.codes))
        self.hash_of = _hash_source(config.hash_key) if config.hash_key is not None else None
        sticky = config.sticky
        self.sticky_cookie = sticky.cookie.encode() if sticky is not None else None
        # Responses need no decision beyond their status class (nothing added or removed, no
        # retry on a status below 500, no cookie to set): forwarded as received.
        self.forward_response = not (
            self.response_add or self.response_drop or self.retry_status or sticky
        )
        self.set_cookie_prefix = b""
        if sticky is not None:
            max_age = f"; Max-Age={int(sticky.ttl)}" if sticky.ttl is not None else ""
            self.set_cookie_prefix = (
                f"{sticky.cookie}=%s; Path={sticky.path}{max_age}; HttpOnly".encode()
            )

    def matches(self, head: RequestHead) -> bool:
        if self.unconditional:
            return True
        if self.methods is not None and head.method not in self.methods:
            return False
        if self.hosts or self.host_suffixes:
            host = _host_without_port(head.host)
            if host not in self.hosts and not host.endswith(self.host_suffixes):
                return False
        if self.path_prefix is not None or self.path_exact is not None or self.path_regex:
            path = head.target.partition(b"?")[0]
            if self.path_prefix is not None and not path.startswith(self.path_prefix):
                return False
            if self.path_exact is not None and path != self.path_exact:
                return False
            if self.path_regex is not None and self.path_regex.fullmatch(path) is None:
                return False
        if self.headers is not None:
            present = dict(head.headers)
            for name, value in self.headers:
                got = present.get(name)
                if got is None or (value != b"*" and got != value):
                    return False
        return True

    def rewrite_target(self, target: bytes) -> bytes:
        """Replace the matched path prefix (Envoy's prefix_rewrite)."""
        if self.prefix_rewrite is None or self.path_prefix is None:
            return target
        rest = target[len(self.path_prefix) :]
        if self.prefix_rewrite.endswith(b"/") and rest.startswith(b"/"):
            rest = rest[1:]
        rewritten = self.prefix_rewrite + rest
        return rewritten if rewritten.startswith(b"/") else b"/" + rewritten

    def __repr__(self) -> str:
        return f"<Route {self.name} -> {self.cluster!r}>"


HashSource = Callable[[RequestHead, bytes], "bytes | None"]


def header_value(headers: Headers, name: bytes) -> bytes | None:
    for key, value in headers:
        if key == name:
            return value
    return None


def cookie_value(headers: Headers, name: bytes) -> bytes | None:
    """The value of cookie `name` in the Cookie header(s) (RFC 6265 §5.4 pairs)."""
    for key, value in headers:
        if key == b"cookie":
            for pair in value.split(b";"):
                k, sep, v = pair.strip().partition(b"=")
                if sep and k == name:
                    return v
    return None


def _hash_source(config: HashKeyConfig) -> HashSource:
    """The function that extracts the bytes to hash for a route, chosen once at load."""
    if config.header is not None:
        header = config.header.lower().encode()
        return lambda head, client_ip: header_value(head.headers, header)
    if config.cookie is not None:
        cookie = config.cookie.encode()
        return lambda head, client_ip: cookie_value(head.headers, cookie)
    if config.source_ip:
        return lambda head, client_ip: client_ip
    if config.path:
        return lambda head, client_ip: head.target.partition(b"?")[0]
    assert config.query_parameter is not None
    param = config.query_parameter.encode()

    def query(head: RequestHead, client_ip: bytes) -> bytes | None:
        for pair in head.target.partition(b"?")[2].split(b"&"):
            k, _, v = pair.partition(b"=")
            if k == param:
                return v
        return None

    return query


def _host_without_port(host: bytes) -> bytes:
    host = host.lower()
    if host.startswith(b"["):
        return host.partition(b"]")[0] + b"]"
    return host.partition(b":")[0]


class Router(Generic[C]):
    """Routes of one listener, in config order."""

    __slots__ = ("routes", "_only")

    def __init__(self, routes: list[Route[C]]) -> None:
        self.routes = routes
        self._only = routes[0] if len(routes) == 1 and routes[0].unconditional else None

    def match(self, head: RequestHead) -> Route[C] | None:
        if self._only is not None:
            return self._only
        for route in self.routes:
            if route.matches(head):
                return route
        return None
