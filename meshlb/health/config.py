"""Config tables of health checking: `[clusters.NAME.health]` and `[clusters.NAME.outlier]`.

Active checks are off unless a cluster has a `health` table. Each built-in kind reads its own
sub-table (`health.http`, `health.tcp`, `health.smtp`, `health.pgsql`); third-party kinds
(entry-point group `meshlb.probes`) read the free-form `health.params` table. Passive outlier
detection is on by default with Envoy-like thresholds.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from meshlb.config.units import Duration

Percent = Annotated[float, Meta(ge=0.0, le=100.0)]
Fraction = Annotated[float, Meta(ge=0.0, le=1.0)]
Count = Annotated[int, Meta(ge=0)]
Threshold = Annotated[int, Meta(ge=1, le=1000)]
ParamValue = str | int | float | bool


class HttpProbeConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    method: str = "GET"
    path: str = "/"
    host: str = ""  # Host header; "" = the endpoint's address
    expected_statuses: list[int | str] = msgspec.field(default_factory=lambda: ["200-399"])
    body_contains: str = ""  # the first 64 KiB of the body must contain this ("" = no check)
    headers: dict[str, str] = msgspec.field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.path.startswith("/"):
            raise ValueError("health.http.path must start with '/'")
        if not self.method.isalpha() or not self.method.isupper():
            raise ValueError(f"health.http.method: {self.method!r} is not an HTTP method")
        status_set(self.expected_statuses)  # raises on a malformed entry

    def statuses(self) -> frozenset[int]:
        return status_set(self.expected_statuses)


class TcpProbeConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    send: str = ""  # bytes written after connecting (TOML escapes: "PING\r\n")
    expect: str = ""  # the reply must contain these bytes ("" = connecting is enough)
    send_hex: str = ""  # binary alternatives to send/expect, as hex digits
    expect_hex: str = ""

    def __post_init__(self) -> None:
        if self.send and self.send_hex:
            raise ValueError("health.tcp: use send or send_hex, not both")
        if self.expect and self.expect_hex:
            raise ValueError("health.tcp: use expect or expect_hex, not both")
        for name in ("send_hex", "expect_hex"):
            try:
                bytes.fromhex(getattr(self, name))
            except ValueError:
                raise ValueError(f"health.tcp.{name}: not hex digits") from None

    def payload(self) -> tuple[bytes, bytes]:
        send = bytes.fromhex(self.send_hex) if self.send_hex else self.send.encode()
        expect = bytes.fromhex(self.expect_hex) if self.expect_hex else self.expect.encode()
        return send, expect


class SmtpProbeConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    ehlo: str = "localhost"  # the name meshlb gives in EHLO


class PgsqlProbeConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    # "ssl": an SSLRequest must get 'S' or 'N'. "startup": a StartupMessage must get an
    # authentication request ('R') or an error other than "cannot connect now".
    mode: Literal["ssl", "startup"] = "ssl"
    user: str = "meshlb"
    database: str = ""  # "" = same as user


class HealthCheckConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    kind: str = "http"
    interval: Duration = Duration(5.0)
    unhealthy_interval: Duration = Duration(0.0)  # while unhealthy; 0 = same as interval
    timeout: Duration = Duration(1.0)
    jitter: Fraction = 0.1  # each wait is interval * (1 ± jitter), uniformly
    rise: Threshold = 2  # consecutive successes that make an unhealthy endpoint healthy
    fall: Threshold = 3  # consecutive failures that make a healthy endpoint unhealthy
    initial_state: Literal["healthy", "unhealthy"] = "healthy"
    http: HttpProbeConfig | None = None
    tcp: TcpProbeConfig | None = None
    smtp: SmtpProbeConfig | None = None
    pgsql: PgsqlProbeConfig | None = None
    params: dict[str, ParamValue] = msgspec.field(default_factory=dict)  # third-party kinds

    def __post_init__(self) -> None:
        if self.interval <= 0:
            raise ValueError("health.interval must be positive")
        if self.timeout <= 0:
            raise ValueError("health.timeout must be positive")
        from meshlb.health.probes import known_kinds

        kinds = known_kinds()
        if self.kind not in kinds:
            raise ValueError(
                f"health.kind: unknown kind {self.kind!r} (known: {', '.join(sorted(kinds))})"
            )
        for table in ("http", "tcp", "smtp", "pgsql"):
            if getattr(self, table) is not None and table != self.kind:
                raise ValueError(f"health.{table} is given but health.kind is {self.kind!r}")

    @property
    def down_interval(self) -> float:
        return float(self.unhealthy_interval or self.interval)


class OutlierConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    enabled: bool = True
    consecutive_5xx: Count = 5  # 0 = off; connect failures, resets and timeouts count too
    consecutive_gateway_failure: Count = 3  # 502/503/504, connect failure, reset, timeout
    interval: Duration = Duration(10.0)  # window of success-rate and latency statistics
    base_ejection_time: Duration = Duration(30.0)  # times the endpoint's ejection count
    max_ejection_time: Duration = Duration(300.0)
    max_ejection_percent: Percent = 50.0  # at least one endpoint may always be ejected
    success_rate_threshold: Percent = 0.0  # eject below this success % in a window; 0 = off
    success_rate_min_requests: Threshold = 100
    latency_factor: Annotated[float, Meta(ge=0.0)] = 3.0  # p90 > k x median of p90s; 0 = off
    latency_percentile: Annotated[float, Meta(gt=0.0, lt=100.0)] = 90.0
    latency_min_requests: Threshold = 20  # per endpoint per window
    latency_min_hosts: Threshold = 3  # endpoints with enough requests for a median
    latency_floor: Duration = Duration(0.010)  # never eject for a percentile below this
    active_rise_unejects: bool = True  # an active-check recovery ends a passive ejection

    def __post_init__(self) -> None:
        if self.interval <= 0:
            raise ValueError("outlier.interval must be positive")
        if self.max_ejection_time < self.base_ejection_time:
            raise ValueError("outlier.max_ejection_time must be at least base_ejection_time")


def status_set(entries: list[int | str]) -> frozenset[int]:
    """Expand `[200, "300-399"]` into a set of status codes."""
    out: set[int] = set()
    for entry in entries:
        if isinstance(entry, int):
            low = high = entry
        else:
            first, sep, last = entry.partition("-")
            if not (first.strip().isdigit() and (not sep or last.strip().isdigit())):
                raise ValueError(f'expected a status like 200 or a range like "200-399": {entry!r}')
            low = int(first)
            high = int(last) if sep else low
        if not 100 <= low <= high <= 599:
            raise ValueError(f"status range {entry!r} is outside 100-599")
        out.update(range(low, high + 1))
    if not out:
        raise ValueError("expected_statuses must not be empty")
    return frozenset(out)
