"""Balancer options: the `[clusters.NAME.lb]` table of the config."""

from __future__ import annotations

import msgspec


class BalancerOptions(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    panic_threshold: float = 50.0  # percent of healthy endpoints below which all are used
