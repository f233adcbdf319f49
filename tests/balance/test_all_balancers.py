"""The contract every registered balancer keeps, built-in or installed through an entry point.

Each test runs once per name in `ALL_BALANCERS` (see conftest), always through
`meshlb.balance.create` and, where a request is modelled, through `select`.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meshlb import balance
from meshlb.balance import Balancer, BalancerOptions, build_snapshot, select
from meshlb.model import Endpoint, PickContext, Snapshot

from .conftest import ALL_BALANCERS, PLUGIN_NAME
from .support import endpoints, snapshot

NOW = 1000.0
Make = Callable[..., Balancer]


def test_the_shared_suite_covers_every_registered_balancer(plugin_installed: object) -> None:
    assert sorted(ALL_BALANCERS) == balance.registered()


def test_an_empty_cluster_gives_no_endpoint(make_balancer: Make) -> None:
    balancer = make_balancer()
    empty = snapshot([])
    balancer.rebuild(empty)
    assert balancer.pick(PickContext(), empty) is None
    assert select(balancer, PickContext(hash_key=7), empty) is None


def test_a_single_endpoint_takes_every_request(make_balancer: Make) -> None:
    balancer = make_balancer()
    (only,) = endpoints(1)
    snap = snapshot([only])
    balancer.rebuild(snap)
    for i in range(50):
        assert select(balancer, PickContext(hash_key=i * 7919), snap) is only


def test_only_eligible_endpoints_are_chosen(make_balancer: Make) -> None:
    eps = endpoints(12)
    eps[0].healthy = False
    eps[1].ejected_until = NOW + 30.0
    eps[2].draining = True
    eps[3].ejected_until = NOW - 1.0  # ejection over: eligible again
    snap = build_snapshot(eps, 1, NOW, BalancerOptions())
    assert not snap.panic
    balancer = make_balancer()
    balancer.rebuild(snap)
    rng = random.Random(1)
    for _ in range(2000):
        ctx = PickContext(hash_key=rng.getrandbits(64), now=NOW)
        picked = balancer.pick(ctx, snap)
        assert picked in snap.eligible
        assert select(balancer, ctx, snap) in snap.eligible
    assert set(snap.eligible) == set(eps) - {eps[0], eps[1], eps[2]}


def test_weight_zero_gets_nothing_while_others_have_weight(make_balancer: Make) -> None:
    eps = endpoints(5, weights=[0, 1, 0, 2, 1])
    snap = snapshot(eps)
    balancer = make_balancer()
    balancer.rebuild(snap)
    rng = random.Random(2)
    chosen = {
        select(balancer, PickContext(hash_key=rng.getrandbits(64)), snap) for _ in range(3000)
    }
    assert chosen <= {eps[1], eps[3], eps[4]}
    assert None not in chosen


def test_a_cluster_of_only_zero_weights_still_serves(make_balancer: Make) -> None:
    eps = endpoints(3, weights=[0, 0, 0])
    snap = snapshot(eps)
    balancer = make_balancer()
    balancer.rebuild(snap)
    for i in range(30):
        assert select(balancer, PickContext(hash_key=i), snap) in eps


def test_a_new_snapshot_replaces_the_old_membership(make_balancer: Make) -> None:
    eps = endpoints(6)
    balancer = make_balancer()
    first = snapshot(eps, 1)
    balancer.rebuild(first)
    for i in range(100):
        select(balancer, PickContext(hash_key=i), first)
    second = snapshot([*eps[3:], *endpoints(2, cluster="other")], 2)
    balancer.rebuild(second)
    rng = random.Random(3)
    for _ in range(1000):
        assert (
            select(balancer, PickContext(hash_key=rng.getrandbits(64)), second) in second.eligible
        )


def test_a_request_that_tried_everything_gets_none(make_balancer: Make) -> None:
    eps = endpoints(4)
    snap = snapshot(eps)
    balancer = make_balancer()
    balancer.rebuild(snap)
    assert select(balancer, PickContext(hash_key=5, tried=tuple(eps)), snap) is None
    last = select(balancer, PickContext(hash_key=5, tried=tuple(eps[:3])), snap)
    assert last is eps[3]


def test_repr_names_the_balancer_and_its_state(make_balancer: Make, balancer_name: str) -> None:
    balancer = make_balancer()
    snap = snapshot(endpoints(3), version=42)
    balancer.rebuild(snap)
    text = repr(balancer)
    assert text.startswith("<") and text.endswith(">")
    assert type(balancer).__name__ in text
    if balancer_name != PLUGIN_NAME:
        assert "v=42" in text and "endpoints=3" in text


endpoint_states = st.lists(
    st.fixed_dictionaries(
        {
            "healthy": st.booleans(),
            "ejected": st.booleans(),
            "draining": st.booleans(),
            "weight": st.integers(0, 3),
            "backing_off": st.booleans(),
            "tried": st.booleans(),
        }
    ),
    max_size=8,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    states=endpoint_states,
    panic_threshold=st.sampled_from([0.0, 50.0, 100.0]),
    hash_key=st.one_of(st.none(), st.integers(0, 2**64 - 1)),
)
def test_select_never_returns_an_excluded_endpoint(
    make_balancer: Make,
    states: list[dict[str, bool | int]],
    panic_threshold: float,
    hash_key: int | None,
) -> None:
    eps = endpoints(len(states), weights=[int(s["weight"]) for s in states])
    for endpoint, state in zip(eps, states, strict=True):
        endpoint.healthy = bool(state["healthy"])
        endpoint.ejected_until = NOW + 10.0 if state["ejected"] else 0.0
        endpoint.draining = bool(state["draining"])
        endpoint.retry_after_until = NOW + 5.0 if state["backing_off"] else 0.0
    tried = tuple(e for e, s in zip(eps, states, strict=True) if s["tried"])
    snap = build_snapshot(eps, 1, NOW, BalancerOptions(panic_threshold=panic_threshold))
    balancer = make_balancer()
    balancer.rebuild(snap)
    ctx = PickContext(hash_key=hash_key, tried=tried, now=NOW)

    chosen = select(balancer, ctx, snap)

    usable = _usable(snap)
    allowed = [e for e in usable if e not in tried and e.retry_after_until <= NOW]
    if allowed:
        assert chosen in allowed
    else:
        assert chosen is None


def _usable(snap: Snapshot) -> list[Endpoint]:
    """The weight rule, restated independently of meshlb.balance.base."""
    positive = [e for e, w in zip(snap.eligible, snap.weights, strict=True) if w > 0]
    return positive or list(snap.eligible)
