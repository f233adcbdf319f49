"""Hedged requests: when to send a second copy of a slow request, and how many to allow.

Theory of operation. A hedge is a copy of a request sent to another endpoint when the first
attempt has not produced a response head after `hedge_after`; the first head to arrive wins
and the other attempts are cancelled ("The Tail at Scale", Dean & Barroso, 2013). The data
path sends and cancels; this module decides:

- `HedgePolicy.delay(now)`: the fixed `hedge_after`, or a percentile of the cluster's recent
  latency ("p95"), which needs `LatencyQuantile` to have seen enough samples (until then, no
  hedging: a guess would be worse than nothing).
- `HedgePolicy.allowed(method, body_replayable)`: only idempotent requests whose body is
  still at hand may be sent twice.
- `HedgeBudget`: hedges add load exactly when the cluster is slow, so they are paid from a
  token bucket that every request fills by `hedge_budget_percent` / 100 token (burst 10):
  at most that share of requests is hedged, whatever the latency does.

`LatencyQuantile` keeps a log-bucketed histogram (buckets 2^(1/8), about 9 % wide, from 50 µs
to about two minutes) in two windows that rotate every `window` seconds, so an estimate covers
the last one to two windows; reading a quantile walks ~170 buckets and is cached for 1 s.
"""

from __future__ import annotations

import math

from meshlb.config.units import Duration
from meshlb.resilience.config import RetryConfig
from meshlb.resilience.retry import IDEMPOTENT_METHODS

MIN_LATENCY = 50e-6
BUCKETS_PER_DOUBLING = 8
BUCKETS = 21 * BUCKETS_PER_DOUBLING  # 50 us * 2^21 ~ 105 s
RECOMPUTE = 1.0  # seconds a computed quantile is reused


def parse_hedge_after(value: str | float) -> tuple[str, float]:
    """`""` -> ("off", 0); `"p95"` -> ("quantile", 95.0); `"50ms"`/0.05 -> ("fixed", 0.05)."""
    if value == "":
        return "off", 0.0
    if isinstance(value, str) and value.strip().lower().startswith("p"):
        try:
            q = float(value.strip()[1:])
        except ValueError:
            q = -1.0
        if not 50.0 <= q < 100.0:
            raise ValueError(f'retry.hedge_after: expected "p50" to "p99.9", got {value!r}')
        return "quantile", q
    try:
        seconds = float(Duration.parse(value))
    except ValueError:
        raise ValueError(
            f'retry.hedge_after: expected "p95" or a duration like "50ms", got {value!r}'
        ) from None
    if seconds <= 0:
        raise ValueError("retry.hedge_after must be positive")
    return "fixed", seconds


class LatencyQuantile:
    __slots__ = ("window", "min_samples", "_current", "_previous", "_rotate_at", "_cache")

    def __init__(self, window: float = 10.0, min_samples: int = 50, now: float = 0.0) -> None:
        self.window = window
        self.min_samples = min_samples
        self._current = [0] * BUCKETS
        self._previous = [0] * BUCKETS
        self._rotate_at = now + window
        self._cache: dict[float, tuple[float, float | None]] = {}

    def observe(self, seconds: float, now: float) -> None:
        if now >= self._rotate_at:
            self._rotate(now)
        if seconds <= MIN_LATENCY:
            i = 0
        else:
            i = min(int(math.log2(seconds / MIN_LATENCY) * BUCKETS_PER_DOUBLING), BUCKETS - 1)
        self._current[i] += 1

    def count(self, now: float) -> int:
        if now >= self._rotate_at:
            self._rotate(now)
        return sum(self._current) + sum(self._previous)

    def quantile(self, q: float, now: float) -> float | None:
        """The q-th percentile (upper bucket bound, seconds), or None below `min_samples`."""
        cached = self._cache.get(q)
        if cached is not None and now < cached[0] and now < self._rotate_at:
            return cached[1]
        if now >= self._rotate_at:
            self._rotate(now)
        counts = [a + b for a, b in zip(self._current, self._previous, strict=True)]
        total = sum(counts)
        value: float | None = None
        if total >= self.min_samples:
            rank = max(1, math.ceil(q / 100.0 * total))
            seen = 0
            for i, n in enumerate(counts):
                seen += n
                if seen >= rank:
                    value = MIN_LATENCY * 2.0 ** ((i + 1) / BUCKETS_PER_DOUBLING)
                    break
        self._cache[q] = (now + RECOMPUTE, value)
        return value

    def _rotate(self, now: float) -> None:
        if now >= self._rotate_at + self.window:  # idle for a whole window: all is stale
            self._previous = [0] * BUCKETS
        else:
            self._previous = self._current
        self._current = [0] * BUCKETS
        self._rotate_at = now + self.window
        self._cache.clear()

    def __repr__(self) -> str:
        total = sum(self._current) + sum(self._previous)
        return f"<LatencyQuantile window={self.window:g}s samples={total}>"


class HedgeBudget:
    __slots__ = ("rate", "burst", "tokens", "hedges", "denied")

    def __init__(self, percent: float, burst: float = 10.0) -> None:
        self.rate = percent / 100.0
        self.burst = burst
        self.tokens = 0.0
        self.hedges = 0
        self.denied = 0

    def on_request(self) -> None:
        """Every request (hedged or not) earns `percent` / 100 of a hedge."""
        tokens = self.tokens + self.rate
        self.tokens = tokens if tokens < self.burst else self.burst

    def try_spend(self) -> bool:
        if self.tokens >= 1.0 - 1e-9:  # ten tenths make a token despite float rounding
            self.tokens -= 1.0
            self.hedges += 1
            return True
        self.denied += 1
        return False

    def __repr__(self) -> str:
        return (
            f"<HedgeBudget {self.rate * 100:g}% tokens={self.tokens:.2f} "
            f"hedges={self.hedges} denied={self.denied}>"
        )


class HedgePolicy:
    __slots__ = ("mode", "value", "max_hedges", "latency", "budget")

    def __init__(self, config: RetryConfig, latency: LatencyQuantile | None = None) -> None:
        self.mode, self.value = parse_hedge_after(config.hedge_after)
        self.max_hedges = config.max_hedges
        if self.mode == "quantile" and latency is None:
            latency = LatencyQuantile()
        self.latency = latency
        self.budget = HedgeBudget(config.hedge_budget_percent)

    @property
    def enabled(self) -> bool:
        return self.mode != "off"

    def allowed(self, method: bytes | str, body_replayable: bool) -> bool:
        name = method.decode("latin-1") if isinstance(method, bytes) else method
        return self.enabled and body_replayable and name in IDEMPOTENT_METHODS

    def delay(self, now: float) -> float | None:
        """Seconds after sending when a hedge goes out, or None (off, or no estimate yet)."""
        if self.mode == "fixed":
            return self.value
        if self.mode == "quantile" and self.latency is not None:
            return self.latency.quantile(self.value, now)
        return None

    def __repr__(self) -> str:
        after = f"p{self.value:g}" if self.mode == "quantile" else f"{self.value:g}s"
        return f"<HedgePolicy {self.mode} after={after} max={self.max_hedges} {self.budget!r}>"
