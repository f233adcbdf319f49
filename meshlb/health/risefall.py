"""Rise/fall counting of active health check results, one counter per endpoint.

Theory of operation. A single failed check proves little (a lost packet, a GC pause), so an
endpoint changes state only after a run of identical results, as in HAProxy (`rise`/`fall`),
Envoy (`healthy_threshold`/`unhealthy_threshold`) and Pingora's health counter:

    state      result    effect
    healthy    success   failures = 0
    healthy    failure   failures += 1; at `fall` -> unhealthy
    unhealthy  failure   successes = 0
    unhealthy  success   successes += 1; at `rise` -> healthy

An endpoint that starts unhealthy (`initial_state = "unhealthy"`) has never been seen
healthy, so its very first successful check is enough (Envoy's rule at startup); after that
the full `rise` applies. `since` is when the state last changed; `observe` returns True exactly
when it changed, which is when the caller writes the new state to the `EndpointSet`.

Waits between checks come from `check_delay`: `interval` while healthy, `unhealthy_interval`
while unhealthy, each spread uniformly by ±`jitter` so that the checks of many endpoints (and
of many proxies) do not fall into step.
"""

from __future__ import annotations


class RiseFall:
    __slots__ = ("rise", "fall", "healthy", "successes", "failures", "since", "checks", "_fresh")

    def __init__(self, rise: int, fall: int, *, healthy: bool = True, now: float = 0.0) -> None:
        if rise < 1 or fall < 1:
            raise ValueError("rise and fall must be at least 1")
        self.rise = rise
        self.fall = fall
        self.healthy = healthy
        self.successes = 0
        self.failures = 0
        self.since = now
        self.checks = 0
        self._fresh = not healthy  # never seen healthy yet: one success is enough

    def observe(self, ok: bool, now: float) -> bool:
        """Count one check result; True if this result changed the state."""
        self.checks += 1
        if ok:
            self.failures = 0
            if self.healthy:
                return False
            self.successes += 1
            if self.successes >= self.rise or self._fresh:
                return self._flip(now)
            return False
        self.successes = 0
        self._fresh = False
        if not self.healthy:
            return False
        self.failures += 1
        if self.failures >= self.fall:
            return self._flip(now)
        return False

    def _flip(self, now: float) -> bool:
        self.healthy = not self.healthy
        self.successes = 0
        self.failures = 0
        self.since = now
        self._fresh = False
        return True

    def __repr__(self) -> str:
        state = "healthy" if self.healthy else "unhealthy"
        return (
            f"<RiseFall {state} since={self.since:g} ok={self.successes}/{self.rise} "
            f"fail={self.failures}/{self.fall} checks={self.checks}>"
        )


def check_delay(
    healthy: bool, interval: float, unhealthy_interval: float, jitter: float, u: float
) -> float:
    """Seconds until the next check; `u` is a uniform random number in [0, 1)."""
    base = interval if healthy else unhealthy_interval
    return base * (1.0 + jitter * (2.0 * u - 1.0))
