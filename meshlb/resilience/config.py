"""Config tables of resilience: `[clusters.NAME.retry]` (and a route's `retry`),
`[clusters.NAME.limits]`.

Defaults are what users expect with no config at all: an idempotent request is retried once,
on another endpoint, when connecting failed or the connection broke before a response; a
request whose connection was never made is retried whatever its method. Limits follow
Envoy's defaults (1024 connections, pending and active requests per cluster); retries are
held to a budget of 20 % of the requests of the last 10 s plus 10 retries a second (Finagle's
and Linkerd's budget), with 3 retries in flight always allowed. For every limit, 0 means "no limit".
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from meshlb.config.units import Duration, Size

Percent = Annotated[float, Meta(ge=0.0, le=100.0)]
Count = Annotated[int, Meta(ge=0)]
StatusCode = Annotated[int, Meta(ge=100, le=599)]
RetryOn = Literal[
    "connect-failure", "refused-stream", "reset", "gateway-error", "5xx", "retriable-status-codes"
]


def _default_retry_on() -> list[RetryOn]:
    return ["connect-failure", "refused-stream", "reset"]


class RetryConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    retries: Annotated[int, Meta(ge=0, le=10)] = 1  # attempts after the first
    retry_on: list[RetryOn] = msgspec.field(default_factory=_default_retry_on)
    retriable_status_codes: list[StatusCode] = msgspec.field(default_factory=list)
    per_try_timeout: Duration = Duration(0.0)  # 0 = only the route/cluster timeout
    base_interval: Duration = Duration(0.025)  # backoff: full jitter over base * 2^(n-1)
    max_interval: Duration = Duration(0.25)  # ... capped here, Retry-After included
    retry_non_idempotent: bool = False  # also retry POST/PATCH once the request was sent
    replay_buffer: Size = Size(64 * 1024)  # request body kept for a retry; larger = no retry
    hedge_after: str | float = ""  # "" = no hedging; "p95" (or p50..p99.9), or a duration
    max_hedges: Annotated[int, Meta(ge=1, le=4)] = 1  # extra copies in flight at most
    hedge_budget_percent: Percent = 10.0  # hedges per 100 requests at most

    def __post_init__(self) -> None:
        if self.base_interval > self.max_interval:
            raise ValueError("retry.base_interval must not exceed retry.max_interval")
        if "retriable-status-codes" in self.retry_on and not self.retriable_status_codes:
            raise ValueError('retry.retry_on has "retriable-status-codes" but no codes are given')
        from meshlb.resilience.hedge import parse_hedge_after

        parse_hedge_after(self.hedge_after)  # raises ValueError with the accepted forms


class LimitsConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    max_connections: Count = 1024  # upstream connections of the cluster, idle ones included
    max_pending_requests: Count = 1024  # requests queued for a connection
    max_requests: Count = 1024  # requests in flight
    max_retries: Count = 0  # retries in flight; 0 = only the budget limits them
    pending_timeout: Duration = Duration(1.0)  # longest wait in the pending queue
    retry_budget_percent: Percent = 20.0  # retries <= this % of the window's requests; 0 = off
    retry_budget_window: Duration = Duration(10.0)
    min_retries_per_second: Annotated[float, Meta(ge=0.0)] = 10.0  # the budget's reserve
    min_retry_concurrency: Count = 3  # retries in flight always allowed, whatever the budget
