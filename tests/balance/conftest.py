"""Fixtures: every registered balancer by name, including one installed as a real package.

`failover` is a third-party balancer written exactly as the README shows: a module plus a
`*.dist-info` directory whose `entry_points.txt` declares it in the `meshlb.balancers` group.
Putting that directory on `sys.path` makes `importlib.metadata` find it like any installed
distribution, so the registry's lazy entry-point loading runs for real.
"""

from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import meshlb.balance as balance
from meshlb.balance import Balancer, BalancerOptions

PLUGIN_NAME = "failover"
PLUGIN_MODULE = "meshlb_failover"

PLUGIN_SOURCE = textwrap.dedent(
    '''
    """Active/passive failover: all traffic to the first usable endpoint, in config order."""

    from meshlb.balance import BalancerOptions
    from meshlb.balance.base import usable_weights
    from meshlb.model import Endpoint, PickContext, Snapshot


    class Failover:
        def __init__(self, options: BalancerOptions) -> None:
            self.prefer = str(options.params.get("prefer", ""))  # a host to put first
            self.order: list[Endpoint] = []
            self.snapshot: Snapshot | None = None

        def rebuild(self, snapshot: Snapshot) -> None:
            usable, _ = usable_weights(snapshot)  # eligible, weight 0 left out
            self.order = sorted(usable, key=lambda e: e.host != self.prefer)
            self.snapshot = snapshot

        def pick(self, ctx: PickContext, snapshot: Snapshot) -> Endpoint | None:
            if snapshot is not self.snapshot:
                self.rebuild(snapshot)
            return next((e for e in self.order if e not in ctx.tried), None)

        def __repr__(self) -> str:
            return f"<Failover order={[e.address for e in self.order]}>"
    '''
)

ENTRY_POINTS = f"[meshlb.balancers]\n{PLUGIN_NAME} = {PLUGIN_MODULE}:Failover\n"


def install_plugin(root: Path) -> None:
    """Write the plugin module and its dist-info under `root` (a sys.path entry)."""
    (root / f"{PLUGIN_MODULE}.py").write_text(PLUGIN_SOURCE)
    dist_info = root / "meshlb_failover-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: meshlb-failover\nVersion: 1.0\n"
    )
    (dist_info / "entry_points.txt").write_text(ENTRY_POINTS)


@pytest.fixture
def plugin_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The failover plugin installed on sys.path; the registry restored afterwards."""
    install_plugin(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(balance, "_REGISTRY", dict(balance._REGISTRY))
    importlib.invalidate_caches()
    yield tmp_path
    sys.modules.pop(PLUGIN_MODULE, None)


ALL_BALANCERS = [*balance.BUILTIN, PLUGIN_NAME]
"""Every registered name: the built-ins plus the entry-point plugin (a test checks this list
against `registered()`, so a new built-in cannot escape the shared suite)."""

# Small Maglev tables keep property tests fast; maglev's own tests use the default size.
SUITE_OPTIONS = BalancerOptions(maglev_table_size=1021)


@pytest.fixture(params=ALL_BALANCERS)
def balancer_name(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    if name == PLUGIN_NAME:
        request.getfixturevalue("plugin_installed")
    return name


@pytest.fixture
def make_balancer(balancer_name: str) -> Callable[..., Balancer]:
    """Builds the parametrised balancer through `meshlb.balance.create`."""

    def make(options: BalancerOptions = SUITE_OPTIONS) -> Balancer:
        return balance.create(balancer_name, options)

    return make
