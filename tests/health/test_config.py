"""The `health` and `outlier` tables: defaults, units, and every check with its message."""

from __future__ import annotations

import re
from typing import Any

import msgspec
import pytest

from meshlb.config import ConfigError, load_text
from meshlb.config.load import _dec_hook
from meshlb.health.config import HealthCheckConfig, OutlierConfig, status_set

BASE = """
[[listeners]]
address = "127.0.0.1:8080"

[clusters.db]
endpoints = ["127.0.0.1:5432", "127.0.0.1:5433"]
"""


def health(**raw: Any) -> HealthCheckConfig:
    return msgspec.convert(raw, HealthCheckConfig, dec_hook=_dec_hook)


def test_without_a_health_table_there_are_no_active_checks_but_outlier_detection_is_on() -> None:
    cluster = load_text(BASE).clusters["db"]
    assert cluster.health is None
    assert cluster.outlier.enabled
    assert cluster.outlier.consecutive_gateway_failure == 3
    assert cluster.outlier.consecutive_5xx == 5
    assert cluster.outlier.base_ejection_time == 30.0
    assert cluster.outlier.max_ejection_time == 300.0
    assert cluster.outlier.max_ejection_percent == 50.0


def test_a_full_health_table_with_units_and_a_kind_sub_table() -> None:
    config = load_text(
        BASE
        + """
[clusters.db.health]
kind = "pgsql"
interval = "2s"
unhealthy_interval = "500ms"
timeout = "250ms"
jitter = 0.2
rise = 3
fall = 2
initial_state = "unhealthy"
pgsql.mode = "startup"
pgsql.user = "monitor"

[clusters.db.outlier]
consecutive_5xx = 10
base_ejection_time = "10s"
latency_factor = 0
"""
    )
    hc = config.clusters["db"].health
    assert hc is not None and hc.kind == "pgsql"
    assert (hc.interval, hc.down_interval, hc.timeout) == (2.0, 0.5, 0.25)
    assert (hc.rise, hc.fall, hc.jitter, hc.initial_state) == (3, 2, 0.2, "unhealthy")
    assert hc.pgsql is not None and hc.pgsql.user == "monitor"
    outlier = config.clusters["db"].outlier
    assert (outlier.consecutive_5xx, outlier.base_ejection_time) == (10, 10.0)


def test_unknown_keys_are_named_by_toml_path() -> None:
    with pytest.raises(ConfigError) as info:
        load_text(BASE + '[clusters.db.health]\nkind = "tcp"\ntcp.sned = "x"\nintervall = 1\n')
    assert "clusters.db.health.tcp.sned: unknown key" in info.value.errors
    assert "clusters.db.health.intervall: unknown key" in info.value.errors


def test_the_unhealthy_interval_defaults_to_the_interval() -> None:
    assert health(interval="3s").down_interval == 3.0


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"kind": "ftp"}, "health.kind: unknown kind 'ftp' (known: http, pgsql, smtp, tcp)"),
        ({"kind": "tcp", "http": {"path": "/"}}, "health.http is given but health.kind is 'tcp'"),
        ({"interval": 0}, "health.interval must be positive"),
        ({"rise": 0}, "Expected `int` >= 1"),
        ({"jitter": 1.5}, "Expected `float` <= 1.0"),
        ({"initial_state": "maybe"}, "Invalid enum value 'maybe'"),
        ({"http": {"path": "healthz"}}, "health.http.path must start with '/'"),
        ({"http": {"method": "get"}}, "health.http.method: 'get' is not an HTTP method"),
        ({"http": {"expected_statuses": ["2xx"]}}, "expected a status like 200"),
        ({"http": {"expected_statuses": [700]}}, "outside 100-599"),
        ({"kind": "tcp", "tcp": {"send": "a", "send_hex": "61"}}, "send or send_hex"),
        ({"kind": "tcp", "tcp": {"expect_hex": "zz"}}, "health.tcp.expect_hex: not hex"),
        ({"kind": "pgsql", "pgsql": {"mode": "tls"}}, "Invalid enum value 'tls'"),
    ],
)
def test_invalid_health_tables_are_rejected_with_a_reason(
    raw: dict[str, Any], message: str
) -> None:
    with pytest.raises(msgspec.ValidationError, match=re.escape(message)):
        health(**raw)


def test_outlier_times_must_be_ordered() -> None:
    with pytest.raises(msgspec.ValidationError, match="at least base_ejection_time"):
        msgspec.convert(
            {"base_ejection_time": "60s", "max_ejection_time": "30s"},
            OutlierConfig,
            dec_hook=_dec_hook,
        )


def test_status_sets_expand_ranges() -> None:
    assert status_set([200, "204-206"]) == {200, 204, 205, 206}
    assert len(status_set(["200-399"])) == 200
    with pytest.raises(ValueError):
        status_set([])
