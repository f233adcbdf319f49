"""Stable hashing, and the properties both consistent-hash balancers promise."""

from __future__ import annotations

import math
import os
import random
import subprocess
import sys
from collections import Counter

import pytest

from meshlb.balance import BalancerOptions, create, hash_key, select
from meshlb.balance.hashing import mix64
from meshlb.model import Endpoint, PickContext, Snapshot

from .support import endpoints, snapshot

HASHING = ["ring_hash", "maglev"]


def test_hash_key_values_are_pinned() -> None:
    # Changing these remaps every hashed client of every deployment: it must never happen
    # by accident.
    assert hash_key(b"") == 0xB4B2797457A0A6E4
    assert hash_key(b"10.1.2.3") == 0x894D87F6DB3B6BB3
    assert hash_key(b"user-42") == 0xA6EFE67B4DCAA06F


def test_hash_key_is_the_same_in_another_process_with_another_hash_seed() -> None:
    code = "from meshlb.balance import hash_key; print(hash_key(b'session=abc'))"
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert int(out.stdout) == hash_key(b"session=abc")


def test_hash_key_spreads_similar_inputs_over_64_bits() -> None:
    keys = [hash_key(f"10.0.{i // 256}.{i % 256}".encode()) for i in range(4096)]
    assert len(set(keys)) == 4096
    assert all(0 <= k < 2**64 for k in keys)
    top_bits = Counter(k >> 60 for k in keys)  # 16 buckets of 256 expected
    assert min(top_bits.values()) > 180 and max(top_bits.values()) < 340
    ones = sum(bin(k).count("1") for k in keys) / len(keys)
    assert ones == pytest.approx(32, abs=0.5)


def test_mix64_is_a_bijection_on_a_sample() -> None:
    sample = range(100_000)
    assert len({mix64(x) for x in sample}) == 100_000
    assert mix64(2**64 + 5) == mix64(5)


def owners(balancer_name: str, eps: list[Endpoint], keys: list[int]) -> list[Endpoint | None]:
    balancer = create(balancer_name, BalancerOptions())
    snap = snapshot(eps)
    return [balancer.pick(PickContext(hash_key=k), snap) for k in keys]


_rng = random.Random(99)
KEYS = [_rng.getrandbits(64) for _ in range(20_000)]


@pytest.mark.parametrize("name", HASHING)
def test_removing_one_of_ten_endpoints_remaps_at_most_a_tenth_plus_two_percent(
    name: str,
) -> None:
    eps = endpoints(10)
    before = owners(name, eps, KEYS)
    for gone in eps:
        after = owners(name, [e for e in eps if e is not gone], KEYS)
        moved = sum(a is not b for a, b in zip(before, after, strict=True)) / len(KEYS)
        assert moved <= 1 / 10 + 0.02, (gone, moved)
        # Every key of the departed endpoint must move, and only they, mostly.
        assert all(a is not gone for a in after)


@pytest.mark.parametrize("name", HASHING)
def test_adding_an_eleventh_endpoint_remaps_at_most_a_tenth_plus_two_percent(name: str) -> None:
    eps = endpoints(11)
    before = owners(name, eps[:10], KEYS)
    after = owners(name, eps, KEYS)
    moved = [(a, b) for a, b in zip(before, after, strict=True) if a is not b]
    assert len(moved) / len(KEYS) <= 1 / 10 + 0.02
    to_newcomer = sum(b is eps[10] for _, b in moved)
    assert to_newcomer / len(KEYS) == pytest.approx(1 / 11, abs=0.02)


@pytest.mark.parametrize("name", HASHING)
def test_every_worker_maps_a_key_to_the_same_endpoint(name: str) -> None:
    eps = endpoints(7)
    shuffled = eps[:]
    random.Random(4).shuffle(shuffled)
    assert owners(name, eps, KEYS[:2000]) == owners(name, shuffled, KEYS[:2000])


@pytest.mark.parametrize("name", HASHING)
def test_keys_are_shared_in_proportion_to_weight(name: str) -> None:
    eps = endpoints(4, weights=[1, 1, 2, 4])
    counts = Counter(owners(name, eps, KEYS))
    tolerance = 0.02 if name == "maglev" else 0.2  # a ring share varies by 1/sqrt(vnodes)
    for e in eps:
        assert counts[e] / len(KEYS) == pytest.approx(e.weight / 8, rel=tolerance)


@pytest.mark.parametrize("name", HASHING)
def test_requests_without_a_key_are_spread_at_random(name: str) -> None:
    eps = endpoints(4)
    balancer = create(name, BalancerOptions())
    snap = snapshot(eps)
    counts = Counter(balancer.pick(PickContext(), snap) for _ in range(4000))
    assert set(counts) == set(eps)
    assert min(counts.values()) > 800


@pytest.mark.parametrize("name", HASHING)
@pytest.mark.parametrize("factor", [125, 150, 200])
def test_bounded_load_caps_every_endpoint_at_the_factor(name: str, factor: int) -> None:
    eps = endpoints(8, weights=[1, 1, 1, 1, 2, 2, 1, 1])
    snap = snapshot(eps)
    balancer = create(name, BalancerOptions(hash_balance_factor=factor))
    shares = {e: e.weight / 10 for e in eps}
    rng = random.Random(5)
    hot_keys = [rng.getrandbits(64) for _ in range(3)]  # heavily skewed traffic
    in_flight: list[Endpoint] = []
    for n in range(3000):
        total = sum(e.active_requests for e in eps)
        chosen = select(balancer, PickContext(hash_key=hot_keys[n % 3]), snap)
        assert chosen is not None
        cap = max(1, math.ceil(math.ceil((total + 1) * factor / 100) * shares[chosen]))
        assert chosen.active_requests + 1 <= cap
        chosen.active_requests += 1
        in_flight.append(chosen)
        if n % 4 == 3:  # some requests complete, oldest first
            in_flight.pop(0).active_requests -= 1
    total = sum(e.active_requests for e in eps)
    for e in eps:
        assert e.active_requests <= math.ceil(total * factor / 100 * shares[e]) + 1


@pytest.mark.parametrize("name", HASHING)
def test_bounded_load_keeps_the_hashed_endpoint_while_it_has_room(name: str) -> None:
    eps = endpoints(5)
    snap = snapshot(eps)
    plain = create(name, BalancerOptions())
    bounded = create(name, BalancerOptions(hash_balance_factor=150))
    for key in KEYS[:500]:
        assert bounded.pick(PickContext(hash_key=key), snap) is plain.pick(
            PickContext(hash_key=key), snap
        )


def test_without_bounded_load_a_hot_key_sticks_to_one_endpoint() -> None:
    eps = endpoints(8)
    snap: Snapshot = snapshot(eps)
    balancer = create("ring_hash", BalancerOptions())
    chosen = {select(balancer, PickContext(hash_key=KEYS[0]), snap) for _ in range(100)}
    assert len(chosen) == 1
