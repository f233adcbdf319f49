"""Config tables of health checking: `[clusters.NAME.health]` and `[clusters.NAME.outlier]`."""

from __future__ import annotations

import msgspec

from meshlb.config.units import Duration


class HealthCheckConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    kind: str = "http"
    interval: Duration = Duration(5.0)


class OutlierConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    enabled: bool = True
