"""The balancer plug-in interface."""

from __future__ import annotations

from typing import Protocol

from meshlb.model import Endpoint, PickContext, Snapshot


class Balancer(Protocol):
    """Chooses one endpoint of a snapshot. One module per algorithm.

    `rebuild` is called once per new snapshot (precompute tables, rings, weights there);
    `pick` is called per request and must be cheap. Health filtering, panic mode, slow start
    and skipping endpoints already tried are not the algorithm's job: the snapshot's
    `eligible` tuple already reflects them, and `meshlb.balance.select` handles `ctx.tried`.
    """

    def rebuild(self, snapshot: Snapshot) -> None: ...

    def pick(self, ctx: PickContext, snapshot: Snapshot) -> Endpoint | None: ...
