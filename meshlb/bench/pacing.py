"""When the open model's worker wakes up to send, so that requests leave at their time.

Theory of operation. Sleeping until a deadline always wakes a little late: the kernel has to
notice the timer and resume the thread, and the event loop has to get back to Python, which
together take 10-20 us on an idle core. So the pacer asks to be woken `lead_ns` before each
deadline and spins on the clock for what is left, as precise generators do. The lead follows
a moving average of how late wake-ups have been (an exponential one, weight 1/8), so about
half the wake-ups spin for a few microseconds and the other half leave a few microseconds
late; chasing the worst wake-up instead would spin away a large share of a core at high rates
for little gain, since a wake-up costs about as much CPU as the lateness it avoids. The lead
is capped at `MAX_LEAD_NS`; what a wake-up's lateness exceeds it by is recorded as send lag,
not hidden. A deadline less than `SPIN_BELOW_NS` past the lead is not worth a sleep (a
wake-up costs more CPU than that much spinning): the pacer spins straight to it.

Nothing here reads a clock: callers pass `now`, so tests drive it with fake time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

SPIN_BELOW_NS = 15_000
MAX_LEAD_NS = 50_000
LEAD_WEIGHT_SHIFT = 3  # each wake-up moves the lead 1/8 of the way to its lateness


class Ticker(Protocol):
    def tick(self, now_ns: int) -> int | None: ...


class Pacer:
    __slots__ = ("lead_ns", "_wake_ns")

    def __init__(self, lead_ns: int = 0) -> None:
        self.lead_ns = lead_ns
        self._wake_ns: int | None = None  # when the armed timer was asked to fire

    def __repr__(self) -> str:
        return f"<Pacer lead={self.lead_ns}ns wake={self._wake_ns}>"

    def spins(self, deadline_ns: int, now_ns: int) -> bool:
        """Whether to spin to `deadline_ns` rather than sleep. The caller spins at most once
        per wake-up and then arms the timer, so the event loop still gets its turn."""
        return deadline_ns - self.lead_ns - now_ns <= SPIN_BELOW_NS

    def wake_at(self, deadline_ns: int, now_ns: int) -> int:
        """When to be woken for `deadline_ns` (at once, if that is already past)."""
        wake = deadline_ns - self.lead_ns
        # Only a wake-up planned for the future says how late the timer runs.
        self._wake_ns = wake if wake > now_ns else None
        return wake if wake > now_ns else now_ns

    def woke(self, now_ns: int) -> None:
        """The timer fired: learn from how late it did."""
        wake = self._wake_ns
        if wake is None:
            return
        self._wake_ns = None
        lead = self.lead_ns + ((now_ns - wake - self.lead_ns) >> LEAD_WEIGHT_SHIFT)
        self.lead_ns = 0 if lead < 0 else MAX_LEAD_NS if lead > MAX_LEAD_NS else lead

    def tick(
        self, ticker: Ticker, clock: Callable[[], int], arm: Callable[[int, int], None]
    ) -> None:
        """One wake-up: send what is due, spin to the next send if it is near (once: then the
        event loop gets its turn), and arm the timer for the one after, unless none is left.
        `arm(wake_ns, now_ns)` sets the timer."""
        now = clock()
        self.woke(now)
        next_ns = ticker.tick(now)
        if next_ns is not None and self.spins(next_ns, now):
            while now < next_ns:
                now = clock()
            next_ns = ticker.tick(now)
        if next_ns is not None:
            arm(self.wake_at(next_ns, now), now)
