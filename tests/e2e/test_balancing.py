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
