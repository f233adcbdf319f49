"""Passive outlier detection: eject endpoints that fail real requests (Envoy's outlier detection).

Theory of operation. Every attempt's outcome (see `meshlb.health.outcome`) is observed per
endpoint. Each endpoint is in one of three states:

    state     event                                              next state
    active    success                                            active (streaks := 0)
    active    `consecutive_gateway_failure` / `consecutive_5xx`  ejected
    active    interval sweep: success rate or latency outlier    ejected
    ejected   outcomes of requests sent before the ejection      ejected (ignored)
    ejected   sweep after `until`                                probing (half-open)
    probing   `admit`: the first request asking gets the slot    probing (slot taken)
    probing   success                                            active (slow start applies)
    probing   failure                                            ejected (count grows)
    probing   cancelled, or slot held longer than PROBE_GRACE    probing (slot free again)
    any       active health check rise (`active_rise_unejects`)  active

An ejection lasts `base_ejection_time * count` (capped at `max_ejection_time`), where `count`
is the endpoint's number of ejections; it decays by one at an interval sweep once the
endpoint has stayed active for as long as its last ejection lasted, so a flapping endpoint is
kept out longer and longer while one that recovered for good drifts back to the base time.

The cap: an ejection that would leave more than `max_ejection_percent` of the endpoints
ejected or probing is refused (and counted); one endpoint may always be ejected.

Window statistics (reset at each sweep, every `interval`): the success rate of each endpoint,
and its latency percentile (p90 by default) over its last RING latencies. An endpoint whose
p90 exceeds `latency_factor` times the median p90 of the endpoints with at least
`latency_min_requests` requests (at least `latency_min_hosts` of them) is ejected, worst
first, unless its p90 is under `latency_floor`. Observing costs a dict lookup and a few
attribute writes, and allocates nothing on success: latencies go into a preallocated array.

The detector is pure: it takes `now`, returns `Verdict`s, and writes no endpoint field. The
`EndpointSet` applies verdicts to endpoint flags and the snapshot.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from typing import NamedTuple

from meshlb.health.config import OutlierConfig
from meshlb.health.outcome import Fault, describe
from meshlb.model import Endpoint

ACTIVE, EJECTED, PROBING = "active", "ejected", "probing"
RING = 128  # latency samples kept per endpoint per window
PROBE_GRACE = 10.0  # seconds a probe slot stays taken without an outcome


class Verdict(NamedTuple):
    endpoint: Endpoint
    state: str  # ACTIVE, EJECTED or PROBING: the endpoint's new state
    until: float  # end of the ejection (EJECTED), else 0
    ejections: int  # the endpoint's ejection count
    reason: str


class EndpointStats:
    __slots__ = (
        "state",
        "ejections",
        "ejected_at",
        "until",
        "active_since",
        "probe_taken",
        "probe_since",
        "consecutive_5xx",
        "consecutive_gateway",
        "requests",
        "failures",
        "samples",
        "latencies",
        "reason",
    )

    def __init__(self, now: float) -> None:
        self.state = ACTIVE
        self.ejections = 0
        self.ejected_at = 0.0
        self.until = 0.0
        self.active_since = now
        self.probe_taken = False
        self.probe_since = 0.0
        self.consecutive_5xx = 0
        self.consecutive_gateway = 0
        self.requests = 0
        self.failures = 0
        self.samples = 0
        self.latencies = array("d", bytes(8 * RING))
        self.reason = ""


class OutlierDetector:
    def __init__(self, config: OutlierConfig, endpoints: Sequence[Endpoint], now: float) -> None:
        self.config = config
        self.stats = {e: EndpointStats(now) for e in endpoints}
        for e, st in self.stats.items():  # an endpoint kept across a reload stays ejected
            st.ejections = e.ejection_count
            if e.ejected_until > now:
                st.state, st.until, st.ejected_at = EJECTED, e.ejected_until, now
                st.reason = e.last_reason
        self.interval = float(config.interval)
        self.next_sweep = now + self.interval
        ends = [st.until for st in self.stats.values() if st.state is EJECTED]
        self.next_due = min([self.next_sweep, *ends])
        self.probing = 0
        self.ejections_total = 0
        self.ejections_by_reason: dict[str, int] = {}  # kind of evidence -> ejections
        self.refused_by_cap = 0
        self._c5xx = config.consecutive_5xx
        self._cgw = config.consecutive_gateway_failure

    # -- per request ------------------------------------------------------------------------

    def observe(
        self, endpoint: Endpoint, outcome: int, latency: float, now: float
    ) -> Verdict | None:
        st = self.stats.get(endpoint)
        if st is None or st.state is EJECTED:
            return None
        if outcome == Fault.CANCELLED:
            if st.state is PROBING:
                st.probe_taken = False
            return None
        st.requests += 1
        st.latencies[st.samples % RING] = latency
        st.samples += 1
        if 0 < outcome < 500:
            st.consecutive_5xx = 0
            st.consecutive_gateway = 0
            if st.state is PROBING:
                return self._activate(st, endpoint, now, "probe request succeeded")
            return None
        st.failures += 1
        st.consecutive_5xx += 1
        if 502 <= outcome <= 504 or outcome < 0:
            st.consecutive_gateway += 1
        else:
            st.consecutive_gateway = 0
        if st.state is PROBING:
            reason = f"probe request failed: {describe(outcome)}"
            return self._eject(st, endpoint, now, reason, "probe_failed")
        if self._cgw and st.consecutive_gateway >= self._cgw:
            kind, reason = "consecutive_gateway_failure", "consecutive gateway failures"
            count = st.consecutive_gateway
        elif self._c5xx and st.consecutive_5xx >= self._c5xx:
            kind, reason, count = "consecutive_5xx", "consecutive 5xx", st.consecutive_5xx
        else:
            return None
        reason = f"{count} {reason} (last: {describe(outcome)})"
        return self._eject(st, endpoint, now, reason, kind)

    def admit(self, endpoint: Endpoint, now: float) -> bool:
        """May a request go to `endpoint`? False only for a probing endpoint whose one probe
        request is already in flight."""
        st = self.stats.get(endpoint)
        if st is None or st.state is not PROBING:
            return True
        if st.probe_taken:
            return False
        st.probe_taken = True
        st.probe_since = now
        self.next_due = min(self.next_due, now + PROBE_GRACE)
        return True

    def restore(self, endpoint: Endpoint, now: float, reason: str) -> Verdict | None:
        """End an ejection early (an active health check saw the endpoint recover)."""
        st = self.stats.get(endpoint)
        if st is None or st.state is ACTIVE:
            return None
        return self._activate(st, endpoint, now, reason)

    # -- periodic ---------------------------------------------------------------------------

    def sweep(self, now: float) -> list[Verdict]:
        """Expire ejections, free stuck probe slots and, once per interval, judge windows."""
        verdicts: list[Verdict] = []
        due = math.inf
        for endpoint, st in self.stats.items():
            if st.state is EJECTED:
                if st.until <= now:
                    st.state = PROBING
                    st.probe_taken = False
                    self.probing += 1
                    took = st.until - st.ejected_at
                    reason = f"ejection over after {took:.3g}s: admitting one probe request"
                    verdicts.append(Verdict(endpoint, PROBING, 0.0, st.ejections, reason))
                else:
                    due = min(due, st.until)
            if st.state is PROBING and st.probe_taken:
                if now - st.probe_since >= PROBE_GRACE:
                    st.probe_taken = False
                else:
                    due = min(due, st.probe_since + PROBE_GRACE)
        if now >= self.next_sweep:
            verdicts += self._judge_windows(now)
            self.next_sweep = now + self.interval
            for st in self.stats.values():
                if st.state is EJECTED:
                    due = min(due, st.until)
        self.next_due = min(due, self.next_sweep)
        return verdicts

    def _judge_windows(self, now: float) -> list[Verdict]:
        config = self.config
        verdicts: list[Verdict] = []
        candidates: list[tuple[float, Endpoint, EndpointStats]] = []
        for endpoint, st in self.stats.items():
            if st.state is not ACTIVE:
                continue
            if (
                config.success_rate_threshold > 0
                and st.requests >= config.success_rate_min_requests
                and 100.0 * (st.requests - st.failures)
                < config.success_rate_threshold * st.requests
            ):
                rate = 100.0 * (st.requests - st.failures) / st.requests
                reason = f"success rate {rate:.1f}% over {st.requests} requests"
                verdict = self._eject(st, endpoint, now, reason, "success_rate")
                if verdict is not None:
                    verdicts.append(verdict)
                    continue
            if config.latency_factor > 0 and st.samples >= config.latency_min_requests:
                n = min(st.samples, RING)
                value = percentile(st.latencies[:n], config.latency_percentile)
                candidates.append((value, endpoint, st))
        if len(candidates) >= config.latency_min_hosts:
            median = percentile([c[0] for c in candidates], 50.0)
            limit = max(config.latency_factor * median, float(config.latency_floor))
            for value, endpoint, st in sorted(candidates, key=lambda c: -c[0]):
                if value <= limit:
                    break
                reason = (
                    f"p{config.latency_percentile:g} latency {value * 1000:.1f} ms > "
                    f"{config.latency_factor:g} x median {median * 1000:.1f} ms"
                )
                verdict = self._eject(st, endpoint, now, reason, "latency")
                if verdict is not None:
                    verdicts.append(verdict)
        for st in self.stats.values():
            st.requests = st.failures = st.samples = 0
            if st.state is ACTIVE and st.ejections and now - st.active_since >= self._duration(st):
                st.ejections -= 1
                st.active_since = now
        return verdicts

    # -- transitions ------------------------------------------------------------------------

    def _duration(self, st: EndpointStats) -> float:
        config = self.config
        return min(float(config.base_ejection_time) * st.ejections, float(config.max_ejection_time))

    def _room(self) -> bool:
        percent = self.config.max_ejection_percent
        if percent <= 0:
            return False
        out = sum(1 for st in self.stats.values() if st.state is not ACTIVE)
        return out < max(1, math.floor(len(self.stats) * percent / 100.0))

    def _eject(
        self, st: EndpointStats, endpoint: Endpoint, now: float, reason: str, kind: str
    ) -> Verdict | None:
        if st.state is ACTIVE and not self._room():
            self.refused_by_cap += 1
            return None
        if st.state is PROBING:
            self.probing -= 1
        st.state = EJECTED
        st.ejections += 1
        st.ejected_at = now
        st.until = now + self._duration(st)
        st.consecutive_5xx = st.consecutive_gateway = 0
        st.requests = st.failures = st.samples = 0  # a readmitted endpoint starts afresh
        st.reason = reason
        self.ejections_total += 1
        self.ejections_by_reason[kind] = self.ejections_by_reason.get(kind, 0) + 1
        self.next_due = min(self.next_due, st.until)
        return Verdict(endpoint, EJECTED, st.until, st.ejections, reason)

    def _activate(self, st: EndpointStats, endpoint: Endpoint, now: float, reason: str) -> Verdict:
        if st.state is PROBING:
            self.probing -= 1
        st.state = ACTIVE
        st.active_since = now
        st.probe_taken = False
        st.consecutive_5xx = st.consecutive_gateway = 0
        st.requests = st.failures = st.samples = 0  # judge it on what it does from now on
        st.reason = reason
        return Verdict(endpoint, ACTIVE, 0.0, st.ejections, reason)

    def __repr__(self) -> str:
        states = [st.state for st in self.stats.values()]
        return (
            f"<OutlierDetector {len(states)} endpoints ejected={states.count(EJECTED)} "
            f"probing={states.count(PROBING)} ejections={self.ejections_total} "
            f"refused_by_cap={self.refused_by_cap}>"
        )


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[rank - 1]
