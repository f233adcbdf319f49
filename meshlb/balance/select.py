"""Mechanics shared by every algorithm: which endpoints are eligible, at what weight, and
what to do when the algorithm's choice cannot be used.

`build_snapshot` runs when endpoint flags change (the EndpointSet calls it):

- **Eligibility.** An endpoint is eligible when it is healthy, its outlier ejection has expired
  (`ejected_until <= now`) and it is not draining.
- **Panic threshold** (Envoy). When fewer than `panic_threshold` percent of the non-draining
  endpoints are eligible, the health signal is more likely wrong than the endpoints, and
  concentrating all traffic on the few survivors would topple them too: every non-draining
  endpoint becomes eligible and the snapshot says `panic=True`. Draining endpoints stay out
  even then, because draining is an operator's decision, not a failure.
- **Slow start** (Envoy). An endpoint that became healthy less than `slow_start_window` seconds
  ago gets `weight * max(min_weight_percent / 100, time_factor ** (1 / aggression))` with
  `time_factor = max(elapsed, 1 ms) / window`, so a cold cache or JIT is not flooded.
  Only endpoints that are really healthy ramp (in panic the others get their full weight, as
  in Envoy), and `healthy_since == 0` means "healthy since before we knew": no ramp.
- **Deadline.** The result says when it goes stale (`next_rebuild_at`): the earliest ejection
  that expires, or the next step of a slow-start ramp. Ramps advance in steps of
  `window / 16` (at least 0.25 s) so a rebuild is not needed on every request.

`select` runs per request: one `pick`, then two cheap checks (not already tried by this
request, not backing off after a 429/503 with Retry-After). Only when the pick is refused does
it try again, a bounded number of times, with a re-hashed key so that hash-based balancers
land elsewhere, and finally scan the eligible endpoints in a deterministic order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from meshlb.balance.base import Balancer
from meshlb.balance.hashing import mix64
from meshlb.balance.options import BalancerOptions
from meshlb.model import Endpoint, PickContext, Snapshot

PICK_ATTEMPTS = 4
"""Picks per request before the fallback scan. Each is cheap and usually lands on an
acceptable endpoint, so the algorithm keeps deciding while only a few are excluded; the
bound keeps a request whose every candidate is excluded from spinning."""

SLOW_START_STEPS = 16
MIN_SLOW_START_STEP = 0.25
MIN_ELAPSED = 0.001  # Envoy's floor: one millisecond.


@dataclass(frozen=True, slots=True)
class ExpiringSnapshot(Snapshot):
    """A snapshot that must be rebuilt at `next_rebuild_at` (monotonic seconds; inf = never)."""

    next_rebuild_at: float = math.inf


def build_snapshot(
    endpoints: Sequence[Endpoint], version: int, now: float, options: BalancerOptions
) -> ExpiringSnapshot:
    """The snapshot a balancer sees at `now`. Pure: reads flags, writes nothing."""
    candidates = tuple(e for e in endpoints if not e.draining)
    eligible = tuple(e for e in candidates if e.healthy and e.ejected_until <= now)
    panic = bool(candidates) and len(eligible) * 100.0 < options.panic_threshold * len(candidates)
    if panic:
        eligible = candidates

    deadline = math.inf
    for e in candidates:
        if e.healthy and e.ejected_until > now:
            deadline = min(deadline, e.ejected_until)

    window = options.slow_start_window
    weights: list[float] = []
    for e in eligible:
        weight = float(e.weight)
        elapsed = now - e.healthy_since
        ramping = e.healthy_since > 0.0 and elapsed < window  # 0 means "since forever"
        if window > 0.0 and ramping and e.healthy and e.ejected_until <= now:
            time_factor = max(elapsed, MIN_ELAPSED) / window
            ramp = time_factor ** (1.0 / options.slow_start_aggression)
            weight *= max(options.slow_start_min_weight_percent / 100.0, ramp)
            step = max(window / SLOW_START_STEPS, MIN_SLOW_START_STEP)
            deadline = min(deadline, e.healthy_since + window, now + step)
        weights.append(weight)

    return ExpiringSnapshot(
        version=version,
        endpoints=tuple(endpoints),
        eligible=eligible,
        weights=tuple(weights),
        panic=panic,
        next_rebuild_at=deadline,
    )


def select(balancer: Balancer, ctx: PickContext, snapshot: Snapshot) -> Endpoint | None:
    """The endpoint for this request, or None if nothing is left (the caller answers 503)."""
    endpoint = balancer.pick(ctx, snapshot)
    if endpoint is not None and endpoint.retry_after_until <= ctx.now and endpoint not in ctx.tried:
        return endpoint
    return _reselect(balancer, ctx, snapshot)


def acceptable(endpoint: Endpoint, ctx: PickContext) -> bool:
    """Not already tried by this request and not backing off after a Retry-After."""
    return endpoint.retry_after_until <= ctx.now and endpoint not in ctx.tried


def _reselect(balancer: Balancer, ctx: PickContext, snapshot: Snapshot) -> Endpoint | None:
    if not snapshot.eligible:
        return None
    for attempt in range(1, PICK_ATTEMPTS):
        key = None if ctx.hash_key is None else mix64(ctx.hash_key + attempt)
        endpoint = balancer.pick(PickContext(key, ctx.tried, ctx.now), snapshot)
        if endpoint is not None and acceptable(endpoint, ctx):
            return endpoint
    return _scan(ctx, snapshot)


def _scan(ctx: PickContext, snapshot: Snapshot) -> Endpoint | None:
    """The first acceptable endpoint carrying traffic, from a position given by the key."""
    eligible = snapshot.eligible
    weighted = any(w > 0 for w in snapshot.weights)
    count = len(eligible)
    start = (ctx.hash_key or 0) % count
    for offset in range(count):
        i = (start + offset) % count
        if (snapshot.weights[i] > 0 or not weighted) and acceptable(eligible[i], ctx):
            return eligible[i]
    return None
