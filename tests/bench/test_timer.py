"""The nanosecond timer on a real event loop (no sockets)."""

from __future__ import annotations

import sys
from time import perf_counter_ns

import pytest
import uvloop

from meshlb.bench.timer import PreciseTimer

MS = 1_000_000


def fire_times(deadlines_ms: list[float], cancel: bool = False) -> tuple[list[int], int, bool]:
    """Arm the timer for each deadline in turn (from the previous firing); returns when it
    fired, the start, and whether it was precise."""
    loop = uvloop.new_event_loop()
    fired: list[int] = []
    done = loop.create_future()
    timer: PreciseTimer

    def on_fire() -> None:
        fired.append(perf_counter_ns())
        if len(fired) < len(deadlines_ms):
            now = perf_counter_ns()
            timer.arm(start + int(deadlines_ms[len(fired)] * MS), now)
        else:
            done.set_result(None)

    timer = PreciseTimer(loop, on_fire)
    start = perf_counter_ns()
    timer.arm(start + int(deadlines_ms[0] * MS), start)
    if cancel:
        timer.cancel()
        loop.call_later(0.02, done.set_result, None)
    try:
        loop.run_until_complete(done)
    finally:
        precise = timer.precise
        timer.close()
        loop.close()
    return fired, start, precise


@pytest.mark.skipif(sys.platform != "linux", reason="timerfd is Linux only")
def test_it_fires_at_sub_millisecond_deadlines_never_early() -> None:
    deadlines = [0.3, 0.55, 0.8, 1.05, 1.3]
    fired, start, precise = fire_times(deadlines)
    assert precise
    assert all(t >= start + int(d * MS) for t, d in zip(fired, deadlines, strict=True))
    # The loop's own timers would round each of these to whole milliseconds.
    assert fired[-1] - start < 5 * MS


def test_a_cancelled_timer_does_not_fire() -> None:
    fired, _, _ = fire_times([1.0], cancel=True)
    assert fired == []
