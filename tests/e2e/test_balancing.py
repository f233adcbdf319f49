"""Balancing end to end: real backends behind `meshlb run`, one algorithm at a time."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.e2e.backends import Backend
from tests.e2e.conftest import Meshlb, free_port

ALGORITHMS = [
    "round_robin",
    "random",
    "least_request",
    "peak_ewma",
    "ring_hash",
    "maglev",
    "least_connections",
]


def config(port: int, backends: list[Backend], balancer: str, extra_route: str = "") -> str:
    endpoints = ", ".join(
        f'{{ address = "{b.address}", weight = {w} }}'
        for b, w in zip(backends, (1, 2, 3), strict=True)
    )
    return f"""
[[listeners]]
address = "127.0.0.1:{port}"
[clusters.app]
balancer = "{balancer}"
endpoints = [{endpoints}]
[[routes]]
cluster = "app"
{extra_route}
"""


def start(
    start_meshlb, tmp_path: Path, backends: list[Backend], balancer: str, extra_route: str = ""
) -> Meshlb:
    port = free_port()
    path = tmp_path / f"{balancer}.toml"
    path.write_text(config(port, backends, balancer, extra_route))
    return start_meshlb("run", "-c", str(path), port=port)


@pytest.mark.parametrize("balancer", ["round_robin", "random", "least_request"])
def test_weighted_distribution_matches_config(start_meshlb, tmp_path, backends, balancer) -> None:
    m = start(start_meshlb, tmp_path, backends, balancer)
    with httpx.Client(base_url=m.url) as client:
        seen = Counter(client.get(f"/{i}").json()["backend"] for i in range(600))
    shares = {name: seen[name] / 600 for name in ("b1", "b2", "b3")}
    tolerance = 0.02 if balancer == "round_robin" else 0.08
    for name, want in (("b1", 1 / 6), ("b2", 2 / 6), ("b3", 3 / 6)):
        assert abs(shares[name] - want) <= tolerance, (balancer, shares)


@pytest.mark.parametrize("balancer", ["peak_ewma"])
def test_latency_aware_balancer_uses_every_endpoint(
    start_meshlb, tmp_path, backends, balancer
) -> None:
    m = start(start_meshlb, tmp_path, backends, balancer)
    with httpx.Client(base_url=m.url) as client:
        seen = Counter(client.get(f"/{i}").json()["backend"] for i in range(300))
    assert set(seen) == {"b1", "b2", "b3"}, seen


@pytest.mark.parametrize("balancer", ["ring_hash", "maglev"])
def test_hashing_on_a_header_is_sticky(start_meshlb, tmp_path, backends, balancer) -> None:
    m = start(start_meshlb, tmp_path, backends, balancer, 'hash_key = { header = "x-user" }')
    owners: dict[str, str] = {}
    with httpx.Client(base_url=m.url) as client:
        for round_ in range(3):
            for user in range(40):
                got = client.get("/", headers={"x-user": f"user-{user}"}).json()["backend"]
                assert owners.setdefault(f"user-{user}", got) == got, (round_, user)
    assert len(set(owners.values())) >= 2  # keys spread over the endpoints


def test_sticky_cookie_pins_a_client(start_meshlb, tmp_path, backends) -> None:
    m = start(
        start_meshlb, tmp_path, backends, "round_robin", 'sticky = { cookie = "lb", ttl = "1h" }'
    )
    with httpx.Client(base_url=m.url) as client:
        first = client.get("/")
        assert (
            "lb=" in first.headers["set-cookie"] and "Max-Age=3600" in first.headers["set-cookie"]
        )
        pinned = first.json()["backend"]
        for _ in range(10):
            r = client.get("/")
            assert r.json()["backend"] == pinned
            assert "set-cookie" not in r.headers
    # a client without the cookie is balanced as usual
    fresh = Counter(httpx.get(m.url + "/").json()["backend"] for _ in range(12))
    assert len(fresh) == 3


def test_quick_mode_accepts_every_balancer_name(start_meshlb, backends) -> None:
    for balancer in ALGORITHMS:
        args = ["run", "--listen", "AUTO", "--balancer", balancer]
        for b in backends:
            args += ["--upstream", b.address]
        m = start_meshlb(*args)
        assert httpx.get(m.url + "/").status_code == 200, balancer
        m.stop()


FAILOVER_PLUGIN = """
from meshlb.balance import BalancerOptions
from meshlb.balance.base import usable_weights
from meshlb.model import Endpoint, PickContext, Snapshot


class Failover:
    def __init__(self, options: BalancerOptions) -> None:
        self.prefer = str(options.params.get("prefer", ""))
        self.order: list[Endpoint] = []
        self.snapshot: Snapshot | None = None

    def rebuild(self, snapshot: Snapshot) -> None:
        usable, _ = usable_weights(snapshot)
        self.order = sorted(usable, key=lambda e: e.address != self.prefer)
        self.snapshot = snapshot

    def pick(self, ctx: PickContext, snapshot: Snapshot) -> Endpoint | None:
        if snapshot is not self.snapshot:
            self.rebuild(snapshot)
        return next((e for e in self.order if e not in ctx.tried), None)
"""


def test_a_balancer_installed_through_an_entry_point_routes_traffic(
    start_meshlb, tmp_path: Path, backends: list[Backend]
) -> None:
    site = tmp_path / "site"
    (site / "meshlb_failover_plugin-1.0.dist-info").mkdir(parents=True)
    (site / "meshlb_failover_plugin.py").write_text(FAILOVER_PLUGIN)
    info = site / "meshlb_failover_plugin-1.0.dist-info"
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: meshlb-failover-plugin\nVersion: 1.0\n"
    )
    (info / "entry_points.txt").write_text(
        "[meshlb.balancers]\nfailover = meshlb_failover_plugin:Failover\n"
    )
    port = free_port()
    cfg = tmp_path / "plugin.toml"
    endpoints = ", ".join(f'"{b.address}"' for b in backends)
    cfg.write_text(
        f"""
[[listeners]]
address = "127.0.0.1:{port}"
[clusters.app]
balancer = "failover"
endpoints = [{endpoints}]
lb.params = {{ prefer = "{backends[1].address}" }}
"""
    )
    m = start_meshlb("run", "-c", str(cfg), port=port, env={"PYTHONPATH": str(site)})
    with httpx.Client(base_url=m.url) as client:
        seen = Counter(client.get(f"/{i}").json()["backend"] for i in range(20))
    assert seen == {"b2": 20}
    backends[1].stop()  # the preferred block dies: the plugin fails over in config order
    with httpx.Client(base_url=m.url) as client:
        after = Counter(client.get(f"/{i}").json()["backend"] for i in range(10))
    assert after == {"b1": 10}
