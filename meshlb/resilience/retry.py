"""Retries: when a failed attempt may be tried again, after how long, and within what budget.

Theory of operation. After an attempt fails, the data path asks `RetryPolicy.decide` with what
happened and what it knows about the request; the answer is a `Decision`: a delay before the
next attempt (on another endpoint), or None and the reason why not, for the access log.

1. Nothing may be retried once a response byte reached the client.
2. At most `retries` attempts follow the first.
3. The failure must be one the route retries (`retry_on`, Envoy's vocabulary):
       connect-failure   no connection (refused, unreachable, connect timeout)
       refused-stream    the upstream refused the stream unprocessed (HTTP/2)
       reset             the connection broke, or the per-try timeout passed, before a
                         response head
       gateway-error     502, 503, 504, and everything connect-failure and reset cover
       5xx               any 5xx, and everything gateway-error covers
       retriable-status-codes   the statuses in `retriable_status_codes`
4. It must be safe. Connect failures and refused streams reached no application, so any
   method is retried. Anything else may have been processed: only idempotent methods
   (RFC 9110 §9.2.2) are retried, unless the route sets `retry_non_idempotent`.
5. The request body must still be at hand (`body_replayable`: it fit in `replay_buffer`).

A local failure (meshlb out of descriptors or socket memory) is never retried: another
endpoint would meet the same shortage, and the 503 sheds load until it passes.

The delay is exponential backoff with full jitter: uniform in [0, min(max_interval,
base_interval * 2^(attempt-1))). A `Retry-After` (delta-seconds or HTTP-date, RFC 9110
§10.2.3) raises it to the server's wish, capped at `max_interval`: the next attempt goes to
another endpoint, and the `EndpointSet` keeps the one that asked to wait out of rotation.

A retry that is allowed must still get a slot: `ResourceLimits.try_acquire_retry`, which
applies `max_retries` and the `RetryBudget` (retries may add at most `retry_budget_percent` to
the requests of the last `retry_budget_window`, plus `min_retries_per_second`, and
`min_retry_concurrency` retries in flight are always allowed), so that retries cannot multiply
the load on a cluster that is failing.
"""

from __future__ import annotations

import calendar
import time
from datetime import UTC
from email.utils import parsedate_to_datetime
from random import Random
from typing import NamedTuple

from meshlb.errors import Failure, Source
from meshlb.health.outcome import Fault, describe, fault_of
from meshlb.resilience.config import RetryConfig

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})

_CONNECT, _REFUSED, _RESET = "connect-failure", "refused-stream", "reset"
_COVERS = {  # retry_on value -> the failure classes it enables
    _CONNECT: {_CONNECT},
    _REFUSED: {_REFUSED},
    _RESET: {_RESET},
    "gateway-error": {"gateway-error", _CONNECT, _REFUSED, _RESET},
    "5xx": {"5xx", "gateway-error", _CONNECT, _REFUSED, _RESET},
    "retriable-status-codes": {"retriable-status-codes"},
}
_FAULT_CLASS = {
    Fault.CONNECT: _CONNECT,
    Fault.REFUSED_STREAM: _REFUSED,
    Fault.RESET: _RESET,
    Fault.TIMEOUT: _RESET,
}


class Decision(NamedTuple):
    delay: float | None  # seconds to wait before the next attempt; None = do not retry
    why: str  # for the access log: "retry 1 of 1 after connect failure", "not retried: ..."


class RetryPolicy:
    __slots__ = ("config", "retries", "enabled", "codes", "per_try_timeout", "_base", "_max")

    def __init__(self, config: RetryConfig) -> None:
        self.config = config
        self.retries = config.retries
        self.enabled: frozenset[str] = frozenset().union(*(_COVERS[r] for r in config.retry_on))
        self.codes = frozenset(config.retriable_status_codes)
        self.per_try_timeout = float(config.per_try_timeout)
        self._base = float(config.base_interval)
        self._max = float(config.max_interval)

    def retriable_status(self, status: int) -> bool:
        """Should a response head with `status` be held back and the request retried?
        (The data path asks before forwarding a head; 2xx-4xx answer False at once.)"""
        if status < 500 and not self.codes:
            return False
        kind = self._status_class(status)
        return kind is not None and kind in self.enabled

    def decide(
        self,
        outcome: Failure | int,
        attempt: int,
        method: bytes | str,
        body_replayable: bool,
        response_started: bool,
        retry_after: float | None,
        rng: Random,
    ) -> Decision:
        """May the request be tried again after its `attempt`-th attempt (1-based) ended in
        `outcome` (a `Failure`, a `Fault`, or a response status)?"""
        if isinstance(outcome, Failure):
            if outcome.source is Source.LOCAL:
                return Decision(None, "not retried: the failure is meshlb's, not the upstream's")
            outcome = fault_of(outcome)
        what = describe(outcome)
        if response_started:
            return Decision(None, f"not retried: the response to the client had started ({what})")
        if outcome < 0:
            kind = _FAULT_CLASS.get(Fault(outcome))
            if kind is None:
                return Decision(None, f"not retried: {what} is never retried")
        else:
            kind = self._status_class(outcome)
            if kind is None:
                return Decision(None, f"not retried: status {outcome} is not in retry_on")
        if kind not in self.enabled:
            return Decision(None, f"not retried: {what} is not in retry_on")
        if attempt > self.retries:
            return Decision(None, f"not retried after {what}: retries exhausted ({self.retries})")
        name = method.decode("latin-1") if isinstance(method, bytes) else method
        if (
            kind not in (_CONNECT, _REFUSED)
            and name not in IDEMPOTENT_METHODS
            and not self.config.retry_non_idempotent
        ):
            return Decision(
                None,
                f"not retried after {what}: {name} is not idempotent and the upstream may "
                "have processed it (retry_non_idempotent is off)",
            )
        if not body_replayable:
            return Decision(
                None, f"not retried after {what}: the request body exceeded replay_buffer"
            )
        delay = self.backoff(attempt, rng)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self._max))
        return Decision(delay, f"retry {attempt} of {self.retries} after {what}")

    def backoff(self, attempt: int, rng: Random) -> float:
        """Full jitter: uniform in [0, min(max_interval, base_interval * 2^(attempt-1)))."""
        ceiling = min(self._max, self._base * (2.0 ** min(attempt - 1, 30)))
        return ceiling * rng.random()

    def _status_class(self, status: int) -> str | None:
        if status in self.codes and "retriable-status-codes" in self.enabled:
            return "retriable-status-codes"
        if 502 <= status <= 504:
            return "gateway-error" if "gateway-error" in self.enabled else "5xx"
        if 500 <= status <= 599:
            return "5xx"
        return None

    def __repr__(self) -> str:
        on = ",".join(self.config.retry_on)
        return f"<RetryPolicy retries={self.retries} on={on} per_try={self.per_try_timeout:g}s>"


class RetryBudget:
    """Retries may add at most `percent` % to the requests of the last `window` seconds, plus
    a reserve of `min_per_second` retries a second (Finagle's and Linkerd's budget); and
    `min_concurrency` retries in flight are always allowed.

    A budget over time rather than over requests in flight: when a black-holed endpoint's
    per-try timeouts expire together, the burst of retries is paid from what the steady
    traffic deposited (or from the reserve, right after a start), while a cluster where every
    attempt fails gets at most one retry per five requests plus the reserve. Requests deposit
    into the current of `SLOTS` slots, retries withdraw, and `advance(now)` drops the slots
    older than the window.
    """

    SLOTS = 10
    __slots__ = (
        "percent",
        "min_concurrency",
        "window",
        "reserve",
        "_requests",
        "_retries",
        "_slot",
        "_next",
        "_total_requests",
        "_total_retries",
    )

    def __init__(
        self,
        percent: float,
        min_concurrency: int,
        window: float = 10.0,
        now: float = 0.0,
        min_per_second: float = 0.0,
    ) -> None:
        self.percent = percent
        self.min_concurrency = min_concurrency
        self.window = window
        self.reserve = min_per_second * window * 100.0  # in retries x 100, like the deposits
        self._requests = [0] * self.SLOTS
        self._retries = [0] * self.SLOTS
        self._slot = 0
        self._next = now + window / self.SLOTS
        self._total_requests = 0
        self._total_retries = 0

    def on_request(self) -> None:
        self._requests[self._slot] += 1
        self._total_requests += 1

    def allows(self, active_retries: int) -> bool:
        if active_retries < self.min_concurrency:
            return True
        spent = (self._total_retries + 1) * 100.0
        return spent <= self._total_requests * self.percent + self.reserve

    def on_retry(self) -> None:
        self._retries[self._slot] += 1
        self._total_retries += 1

    def advance(self, now: float) -> None:
        """Move the window forward to `now` (cheap when the current slot is still open)."""
        if now < self._next:
            return
        step = self.window / self.SLOTS
        for _ in range(min(self.SLOTS, int((now - self._next) / step) + 1)):
            self._slot = (self._slot + 1) % self.SLOTS
            self._total_requests -= self._requests[self._slot]
            self._total_retries -= self._retries[self._slot]
            self._requests[self._slot] = self._retries[self._slot] = 0
        self._next = now + step

    def __repr__(self) -> str:
        per_second = self.reserve / self.window / 100.0
        return (
            f"<RetryBudget {self.percent:g}% of {self.window:g}s +{per_second:g}/s "
            f"min={self.min_concurrency} requests={self._total_requests} "
            f"retries={self._total_retries}>"
        )


_RFC850 = "%A, %d-%b-%y %H:%M:%S GMT"
_ASCTIME = "%a %b %d %H:%M:%S %Y"


def parse_retry_after(value: bytes | str, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After value (RFC 9110 §10.2.3), or None if invalid.

    `value` is delta-seconds ("120") or an HTTP-date in any of the three formats of RFC 9110
    §5.6.7; `now` is the wall-clock time (seconds since the epoch) the date is measured from.
    """
    text = (value.decode("latin-1") if isinstance(value, bytes) else value).strip()
    if text.isdigit():
        return float(text)
    if not text:
        return None
    when: float | None = None
    try:
        parsed = parsedate_to_datetime(text)
        if parsed.tzinfo is None:  # asctime has no zone; every HTTP-date is in GMT
            parsed = parsed.replace(tzinfo=UTC)
        when = parsed.timestamp()
    except (TypeError, ValueError, IndexError):
        for fmt in (_RFC850, _ASCTIME):
            try:
                when = float(calendar.timegm(time.strptime(" ".join(text.split()), fmt)))
                break
            except ValueError:
                continue
    if when is None:
        return None
    return max(0.0, when - (time.time() if now is None else now))
