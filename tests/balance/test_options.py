"""BalancerOptions: the `[clusters.NAME.lb]` table, validated once at load."""

from __future__ import annotations

import msgspec
import pytest

from meshlb.balance import BalancerOptions


def decode(table: dict[str, object]) -> BalancerOptions:
    return msgspec.convert(table, BalancerOptions)


def test_defaults_are_envoys() -> None:
    options = BalancerOptions()
    assert options.panic_threshold == 50.0
    assert options.slow_start_window == 0.0
    assert options.slow_start_aggression == 1.0
    assert options.slow_start_min_weight_percent == 10.0
    assert options.active_request_bias == 1.0
    assert options.choice_count == 2
    assert options.ewma_decay == 10.0 and options.ewma_default_rtt == 0.030
    assert options.min_ring_size == 1024 and options.hash_balance_factor == 0
    assert options.maglev_table_size == 65537


def test_a_config_table_decodes_with_its_keys() -> None:
    options = decode(
        {
            "panic_threshold": 30,
            "slow_start_window": 60.0,
            "choice_count": 3,
            "hash_balance_factor": 150,
            "params": {"prefer": "db-1", "limit": 3},
        }
    )
    assert options.panic_threshold == 30.0 and options.choice_count == 3
    assert options.params == {"prefer": "db-1", "limit": 3}


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"panic_treshold": 30}, "unknown field `panic_treshold`"),
        ({"panic_threshold": 150}, "<= 100.0"),
        ({"choice_count": 1}, ">= 2"),
        ({"slow_start_aggression": 0}, "> 0.0"),
        ({"maglev_table_size": 65536}, "must be a prime number"),
        ({"hash_balance_factor": 50}, "0 (off) or at least 100"),
        ({"min_ring_size": 4096, "max_ring_size": 1024}, "must not exceed max_ring_size"),
    ],
)
def test_invalid_tables_are_refused_with_a_reason(table: dict[str, object], message: str) -> None:
    with pytest.raises(
        msgspec.ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")
    ):
        decode(table)


def test_options_are_frozen() -> None:
    with pytest.raises(AttributeError):
        BalancerOptions().choice_count = 3  # type: ignore[misc]
