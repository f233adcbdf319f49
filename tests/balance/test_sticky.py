"""Cookie stickiness: opaque stable values, and lookups that respect select()'s rules."""

from __future__ import annotations

import re

from meshlb.balance import StickyIndex, cookie_value, create, select
from meshlb.model import Endpoint, PickContext

from .support import endpoints, snapshot

NOW = 50.0


def test_a_cookie_round_trips_to_its_endpoint() -> None:
    eps = endpoints(20)
    snap = snapshot(eps)
    index = StickyIndex()
    balancer = create("round_robin")
    for _ in range(40):
        ctx = PickContext(now=NOW)
        served = select(balancer, ctx, snap)
        assert served is not None
        value = cookie_value(served)  # what the proxy puts in Set-Cookie
        assert index.find(value, PickContext(now=NOW), snap) is served


def test_the_value_is_opaque_short_and_the_same_in_every_process() -> None:
    endpoint = Endpoint("compute", "10.0.0.1", 8080)
    value = cookie_value(endpoint)
    assert re.fullmatch(r"[0-9a-f]{16}", value)
    assert "10.0.0.1" not in value
    assert value == "a091f715fe1deefb"  # pinned: changing it unsticks every client
    assert cookie_value(Endpoint("compute", "10.0.0.1", 8080)) == value  # identity-free
    assert len({cookie_value(e) for e in endpoints(1000)}) == 1000


def test_an_unknown_or_stale_cookie_finds_nothing() -> None:
    eps = endpoints(3)
    index = StickyIndex()
    assert index.find("0000000000000000", PickContext(), snapshot(eps)) is None
    gone = cookie_value(eps[0])
    assert index.find(gone, PickContext(), snapshot(eps[1:], 2)) is None


def test_a_cookie_for_an_ineligible_endpoint_finds_nothing() -> None:
    eps = endpoints(3)
    eps[0].healthy = False
    snap = snapshot(eps)
    snap = type(snap)(
        version=2, endpoints=snap.endpoints, eligible=tuple(eps[1:]), weights=(1.0, 1.0)
    )
    assert StickyIndex().find(cookie_value(eps[0]), PickContext(), snap) is None


def test_a_cookie_never_overrides_retries_or_retry_after() -> None:
    eps = endpoints(3)
    snap = snapshot(eps)
    index = StickyIndex()
    value = cookie_value(eps[1])
    assert index.find(value, PickContext(tried=(eps[1],), now=NOW), snap) is None
    eps[1].retry_after_until = NOW + 3.0
    assert index.find(value, PickContext(now=NOW), snap) is None
    assert index.find(value, PickContext(now=NOW + 3.0), snap) is eps[1]


def test_a_weight_zero_endpoint_keeps_its_sticky_clients() -> None:
    eps = endpoints(2, weights=[0, 1])
    assert StickyIndex().find(cookie_value(eps[0]), PickContext(), snapshot(eps)) is eps[0]


def test_repr_shows_the_indexed_snapshot() -> None:
    index = StickyIndex()
    index.rebuild(snapshot(endpoints(4), 6))
    assert repr(index) == "<StickyIndex v=6 endpoints=4>"
