"""Config tables of resilience: `[clusters.NAME.retry]`, `[clusters.NAME.limits]`."""

from __future__ import annotations

import msgspec


class RetryConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    retries: int = 1


class LimitsConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    max_connections: int = 0
