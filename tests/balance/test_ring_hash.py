"""Ring hash specifics: ring size, vnode stability, weights."""

from __future__ import annotations

import pytest

from meshlb.balance import BalancerOptions
from meshlb.balance.ring_hash import RingHash, vnode_counts, vnode_positions
from meshlb.model import PickContext

from .support import endpoints, snapshot


def test_each_unit_of_weight_gets_256_vnodes_whatever_the_membership() -> None:
    for count in range(4, 40):
        assert vnode_counts([1] * count, 1024, 1 << 20) == [256] * count
    assert vnode_counts([2, 1, 3], 1024, 1 << 20) == [512, 256, 768]


def test_small_clusters_are_padded_up_to_min_ring_size() -> None:
    assert vnode_counts([1, 1, 1], 1024, 1 << 20) == [342] * 3
    assert sum(vnode_counts([1, 2], 1024, 1 << 20)) >= 1024
    assert vnode_counts([1, 1, 1], 256, 1 << 20) == [256] * 3


def test_weights_are_reduced_by_their_gcd() -> None:
    assert vnode_counts([100, 200, 100, 300], 1024, 1 << 20) == [256, 512, 256, 768]


def test_max_ring_size_caps_a_ring_with_awkward_weights() -> None:
    counts = vnode_counts([1_000_003, 1, 999_999], 1024, 4096)
    assert sum(counts) <= 4096 + 2
    assert counts[1] == 1


def test_vnode_positions_of_an_endpoint_are_prefix_stable() -> None:
    key = b"c/10.0.0.1:8080"
    longer = vnode_positions(key, 300)
    assert vnode_positions(key, 161) == longer[:161]
    assert vnode_positions(key, 2) == (0x73559C90976FF8C6, 0x0BA14A7E3E2E57E4)  # pinned
    assert len(set(longer)) == 300


@pytest.mark.parametrize("count", [3, 5, 8, 16, 33])
def test_removing_an_endpoint_moves_only_its_own_keys(count: int) -> None:
    eps = endpoints(count)
    options = BalancerOptions(min_ring_size=256)
    full, smaller = RingHash(options), RingHash(options)
    full_snap, smaller_snap = snapshot(eps), snapshot(eps[1:])
    for key in range(0, 2**64, 2**64 // 5000):
        before = full.pick(PickContext(hash_key=key), full_snap)
        after = smaller.pick(PickContext(hash_key=key), smaller_snap)
        assert after is before or before is eps[0]


def test_a_key_maps_to_the_first_vnode_at_or_after_it_wrapping_around() -> None:
    eps = endpoints(3)
    balancer = RingHash(BalancerOptions(min_ring_size=3))
    snap = snapshot(eps)
    balancer.rebuild(snap)
    beyond_last = balancer.pick(PickContext(hash_key=2**64 - 1), snap)
    at_zero = balancer.pick(PickContext(hash_key=0), snap)
    assert beyond_last is at_zero  # the ring wraps


def test_repr_shows_ring_size_and_bound() -> None:
    balancer = RingHash(BalancerOptions(hash_balance_factor=150))
    balancer.rebuild(snapshot(endpoints(10), 3))
    assert repr(balancer) == "<RingHash v=3 endpoints=10 ring=2560 bounded=150%>"
