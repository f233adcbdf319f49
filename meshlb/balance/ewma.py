"""Peak EWMA: prefer endpoints that answer fast, as measured (Finagle, Linkerd2, tower).

Theory of operation. Each endpoint has a latency estimate kept here, keyed by endpoint:

- `observe(endpoint, rtt, now)` updates it. A sample above the estimate replaces it at once
  (the *peak*: a slow endpoint is penalised on its first slow answer). A lower sample is mixed
  in with weight `1 - exp(-elapsed / ewma_decay)`, so the estimate's memory is about
  `ewma_decay` seconds whatever the request rate.
- Between samples the estimate decays toward zero with the same time constant (read lazily at
  pick time, nothing is written): an endpoint that was avoided because it looked slow becomes
  attractive again after a while, gets probed, and its estimate is refreshed.
- An endpoint never observed counts as `ewma_default_rtt`.

A pick draws two candidates (proportionally to effective weight; uniformly when weights are
equal) and takes the lower `cost = estimate * (active_requests + 1)`, ties to the first drawn.
The product makes queueing visible before the latency samples are: an endpoint with many
requests in flight is expected to answer late. Use it for latency-sensitive clusters where
endpoints differ (mixed hardware, noisy neighbours, GC pauses); `now` comes from the caller,
so tests drive it with a fake clock.
"""

from __future__ import annotations

import math
import random as _random

from meshlb.balance.base import usable_weights
from meshlb.balance.options import BalancerOptions
from meshlb.balance.weighted import AliasTable
from meshlb.model import Endpoint, PickContext, Snapshot

_exp = math.exp


class PeakEwma:
    """P2C on peak-EWMA latency x (active + 1) (`peak_ewma` in config)."""

    def __init__(
        self, options: BalancerOptions | None = None, *, rng: _random.Random | None = None
    ) -> None:
        options = options or BalancerOptions()
        self._decay = options.ewma_decay
        self._default_rtt = options.ewma_default_rtt
        self._bits = (rng or _random.Random()).getrandbits
        self._snapshot: Snapshot | None = None
        self._table = AliasTable([], [])
        # endpoint -> [estimate seconds, time of last sample]; lists so updates are in place.
        self._estimates: dict[Endpoint, list[float]] = {}

    def rebuild(self, snapshot: Snapshot) -> None:
        self._table = AliasTable(*usable_weights(snapshot))
        # Forget endpoints that left the cluster; keep the others' history (an ejected
        # endpoint that comes back is still remembered as slow, decayed by the time elapsed).
        members = set(snapshot.endpoints)
        for endpoint in [e for e in self._estimates if e not in members]:
            del self._estimates[endpoint]
        self._snapshot = snapshot

    def observe(self, endpoint: Endpoint, rtt_seconds: float, now: float) -> None:
        state = self._estimates.get(endpoint)
        if state is None:
            self._estimates[endpoint] = [max(rtt_seconds, 0.0), now]
            return
        estimate, at = state
        if rtt_seconds > estimate:
            state[0] = rtt_seconds
        else:
            decay = math.exp(-max(now - at, 0.0) / self._decay)
            state[0] = estimate * decay + rtt_seconds * (1.0 - decay)
        state[1] = max(now, at)

    def cost(self, endpoint: Endpoint, now: float) -> float:
        """The estimate decayed to `now`, times the requests in flight plus this one."""
        state = self._estimates.get(endpoint)
        if state is None:
            estimate = self._default_rtt
        else:
            estimate = state[0] * math.exp(-max(now - state[1], 0.0) / self._decay)
        return estimate * (endpoint.active_requests + 1)

    def pick(self, ctx: PickContext, snapshot: Snapshot) -> Endpoint | None:
        if snapshot is not self._snapshot:
            self.rebuild(snapshot)
        # Two AliasTable.sample draws and two costs, inlined: method calls are a third of
        # the price of a pick in CPython.
        table = self._table
        bits = self._bits
        try:
            column = bits(32) % table.size
        except ZeroDivisionError:  # no endpoints
            return None
        first = (
            table.endpoints[column] if bits(32) < table.threshold[column] else table.alias[column]
        )
        column = bits(32) % table.size
        second = (
            table.endpoints[column] if bits(32) < table.threshold[column] else table.alias[column]
        )
        if second is first:
            return first
        now = ctx.now
        estimates = self._estimates
        decay = self._decay
        state = estimates.get(first)
        if state is None:
            first_cost = self._default_rtt
        else:
            first_cost = state[0] * _exp((state[1] - now) / decay) if now > state[1] else state[0]
        state = estimates.get(second)
        if state is None:
            second_cost = self._default_rtt
        else:
            second_cost = state[0] * _exp((state[1] - now) / decay) if now > state[1] else state[0]
        first_cost *= first.active_requests + 1
        second_cost *= second.active_requests + 1
        return second if second_cost < first_cost else first

    def __repr__(self) -> str:
        version = self._snapshot.version if self._snapshot else None
        shown = ", ".join(
            f"{e.address}={state[0] * 1000:.1f}ms" for e, state in list(self._estimates.items())[:4]
        )
        more = ", ..." if len(self._estimates) > 4 else ""
        return (
            f"<PeakEwma v={version} endpoints={len(self._table)} "
            f"decay={self._decay}s estimates={{{shown}{more}}}>"
        )
