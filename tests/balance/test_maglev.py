"""Maglev specifics: the table's fill, weights and rebuild economy."""

from __future__ import annotations

from collections import Counter

import pytest

import meshlb.balance.maglev as maglev
from meshlb.balance import BalancerOptions
from meshlb.balance.maglev import Maglev, maglev_table
from meshlb.model import PickContext

from .support import endpoints, snapshot


@pytest.mark.parametrize("count", [1, 3, 10, 100])
def test_the_table_is_full_and_evenly_shared(count: int) -> None:
    table = maglev_table(endpoints(count), [1] * count, 65537)
    assert len(table) == 65537 and -1 not in table
    slots = Counter(table).values()
    assert max(slots) - min(slots) <= 1


def test_weights_set_each_endpoints_share_of_slots() -> None:
    table = maglev_table(endpoints(3), [1, 2, 5], 65537)
    slots = Counter(table)
    for i, weight in enumerate([1, 2, 5]):
        assert slots[i] / 65537 == pytest.approx(weight / 8, rel=0.001)


def test_a_pick_reads_the_slot_of_the_key_modulo_the_table_size() -> None:
    eps = endpoints(5)
    balancer = Maglev(BalancerOptions(maglev_table_size=251))
    snap = snapshot(eps)
    for key in (0, 250, 251, 2**64 - 1):
        assert balancer.pick(PickContext(hash_key=key), snap) is balancer.pick(
            PickContext(hash_key=key % 251), snap
        )


def test_a_new_snapshot_with_the_same_membership_reuses_the_table(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    builds = []
    original = maglev.maglev_table

    def counting(*args: object) -> list[int]:
        builds.append(args)
        return original(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(maglev, "maglev_table", counting)
    eps = endpoints(4)
    balancer = Maglev()
    for version in range(5):
        balancer.rebuild(snapshot(eps, version))
    assert len(builds) == 1
    balancer.rebuild(snapshot(eps[:3], 6))
    assert len(builds) == 2


def test_repr_shows_table_size() -> None:
    balancer = Maglev(BalancerOptions(maglev_table_size=251))
    balancer.rebuild(snapshot(endpoints(2), 8))
    assert repr(balancer) == "<Maglev v=8 endpoints=2 table=251>"
