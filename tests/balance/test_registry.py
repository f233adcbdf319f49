"""The registry: built-in names, explicit registration and lazily loaded entry points."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import meshlb.balance as balance
from meshlb.balance import (
    BUILTIN,
    BalancerLoadError,
    BalancerOptions,
    UnknownBalancerError,
    create,
    observer,
    register,
    registered,
    select,
)
from meshlb.balance.round_robin import RoundRobin
from meshlb.model import PickContext

from .conftest import PLUGIN_MODULE, PLUGIN_NAME
from .support import endpoints, snapshot


def test_every_builtin_is_registered_under_its_config_name() -> None:
    assert set(registered()) >= {
        "round_robin",
        "random",
        "least_request",
        "peak_ewma",
        "ring_hash",
        "maglev",
        "least_connections",
    }
    for name in BUILTIN:
        assert isinstance(create(name), balance.Balancer)


def test_an_unknown_name_is_a_key_and_value_error_listing_known_names() -> None:
    with pytest.raises(UnknownBalancerError) as info:
        create("round_robbin", BalancerOptions())
    assert isinstance(info.value, KeyError) and isinstance(info.value, ValueError)
    message = str(info.value)
    assert message.startswith("unknown balancer 'round_robbin'; known balancers: ")
    assert "least_request" in message and "maglev" in message


def test_an_entry_point_is_loaded_only_when_first_created(plugin_installed: Path) -> None:
    assert PLUGIN_NAME in registered()
    assert PLUGIN_MODULE not in sys.modules  # listed, not imported
    options = BalancerOptions(params={"prefer": "10.0.0.3"})
    failover = create(PLUGIN_NAME, options)
    assert PLUGIN_MODULE in sys.modules
    assert type(failover).__module__ == PLUGIN_MODULE
    eps = endpoints(3)
    snap = snapshot(eps)
    assert select(failover, PickContext(), snap) is eps[2]
    assert select(failover, PickContext(tried=(eps[2],)), snap) is eps[0]


def test_a_builtin_name_cannot_be_taken_over_by_an_entry_point(
    plugin_installed: Path,
) -> None:
    dist_info = plugin_installed / "meshlb_failover-1.0.dist-info"
    (dist_info / "entry_points.txt").write_text(
        f"[meshlb.balancers]\nround_robin = {PLUGIN_MODULE}:Failover\n"
    )
    assert type(create("round_robin")).__name__ == "RoundRobin"


def test_a_broken_entry_point_says_which_and_why(plugin_installed: Path) -> None:
    dist_info = plugin_installed / "meshlb_failover-1.0.dist-info"
    (dist_info / "entry_points.txt").write_text(
        "[meshlb.balancers]\nbroken = meshlb_no_such_module:Thing\n"
    )
    with pytest.raises(BalancerLoadError, match="'broken'.*meshlb_no_such_module"):
        create("broken")


def test_a_factory_that_returns_no_balancer_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(balance, "_REGISTRY", dict(balance._REGISTRY))
    register("nothing", lambda options: object())  # type: ignore[arg-type, return-value]
    with pytest.raises(BalancerLoadError, match="lacks rebuild"):
        create("nothing")


def test_register_adds_a_factory_taking_the_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(balance, "_REGISTRY", dict(balance._REGISTRY))
    seen = []

    def factory(options: BalancerOptions) -> balance.Balancer:
        seen.append(options)
        return RoundRobin(options)

    register("mine", factory)
    options = BalancerOptions(panic_threshold=10.0)
    create("mine", options)
    assert seen == [options] and "mine" in registered()


def test_only_latency_aware_balancers_observe() -> None:
    assert observer(create("peak_ewma")) is not None
    assert observer(create("round_robin")) is None
