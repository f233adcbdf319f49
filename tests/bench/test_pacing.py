"""Open-model pacing: the pacer and the dispatcher driven together by a fake clock."""

from __future__ import annotations

from meshlb.bench.dispatch import OpenDispatcher
from meshlb.bench.histogram import bucket_index
from meshlb.bench.pacing import MAX_LEAD_NS, SPIN_BELOW_NS, Pacer
from meshlb.bench.recorder import Recorder
from meshlb.bench.schedule import RateSchedule

US = 1_000
T0 = 1_000_000_000


class Clock:
    """Each reading advances time a little, as a real clock does while the pacer spins."""

    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        self.now += 100
        return self.now


class Slot:
    def __init__(self, sends: list[tuple[int, int]]) -> None:
        self.sends = sends

    def can_send(self) -> bool:
        return True

    def send(self, origin_ns: int, now_ns: int) -> None:
        self.sends.append((origin_ns, now_ns))


class Timer:
    """A timer that always fires `late_ns` after the time it was armed for."""

    def __init__(self, late_ns: int) -> None:
        self.late_ns = late_ns
        self.wake: int | None = None

    def arm(self, wake_ns: int, now_ns: int) -> None:
        assert wake_ns >= now_ns
        self.wake = wake_ns


def run(rate: float, requests: int, late_ns: int) -> tuple[list[tuple[int, int]], Pacer, int]:
    """Send `requests` at `rate` with a timer that wakes `late_ns` late; returns the sends
    (intended, actual), the pacer, and how many times the timer fired."""
    sends: list[tuple[int, int]] = []
    recorder = Recorder()
    dispatcher = OpenDispatcher(RateSchedule(rate, T0), requests, lambda: None, recorder)
    for _ in range(requests):  # a slot per request: no request ever waits for one
        dispatcher.slot_free(Slot(sends), 0)
    clock, timer, pacer = Clock(T0), Timer(late_ns), Pacer()
    wakes = 0
    pacer.tick(dispatcher, clock, timer.arm)
    while timer.wake is not None:
        clock.now = max(clock.now, timer.wake + late_ns)
        timer.wake = None
        wakes += 1
        pacer.tick(dispatcher, clock, timer.arm)
    return sends, pacer, wakes


def test_intended_send_times_are_kept_although_the_timer_wakes_late() -> None:
    sends, pacer, _ = run(rate=5000, requests=500, late_ns=15 * US)
    assert len(sends) == 500
    lags = [actual - intended for intended, actual in sends]
    assert all(lag >= 0 for lag in lags)
    # The lead learns the timer's lateness within a few dozen wake-ups; from then on every
    # request leaves within a microsecond of its time.
    assert max(lags[50:]) <= US
    assert 14 * US <= pacer.lead_ns <= 16 * US


def test_without_a_lead_every_send_would_be_as_late_as_the_timer() -> None:
    sends, _, _ = run(rate=5000, requests=3, late_ns=15 * US)
    assert [actual - intended for intended, actual in sends][1] >= 10 * US


def test_near_deadlines_are_spun_to_rather_than_slept_for() -> None:
    # 100k/s: a request every 10 us, nearer than a wake-up is worth; the timer still fires
    # between spins so the event loop gets its turn.
    sends, _, wakes = run(rate=100_000, requests=200, late_ns=0)
    assert max(actual - intended for intended, actual in sends) <= US
    assert 90 <= wakes <= 110


def test_the_lead_is_capped() -> None:
    pacer = Pacer()
    for _ in range(200):
        pacer.wake_at(T0 + 10_000 * US, T0)
        pacer.woke(T0 + 10_000 * US - pacer.lead_ns + 5_000 * US)
    assert pacer.lead_ns == MAX_LEAD_NS


def test_a_wake_up_planned_in_the_past_fires_at_once_and_teaches_nothing() -> None:
    pacer = Pacer(lead_ns=10 * US)
    assert pacer.wake_at(T0, now_ns=T0 + 1 * US) == T0 + 1 * US
    pacer.woke(T0 + 500 * US)
    assert pacer.lead_ns == 10 * US
    assert pacer.spins(T0 + 10 * US + SPIN_BELOW_NS, T0)
    assert not pacer.spins(T0 + 10 * US + SPIN_BELOW_NS + 1, T0)


def test_send_lag_is_recorded_as_the_generator_lateness() -> None:
    recorder = Recorder()
    dispatcher = OpenDispatcher(RateSchedule(1000, T0), 1, lambda: None, recorder)
    dispatcher.slot_free(Slot([]), 0)
    dispatcher.tick(T0 + 30 * US)
    assert recorder.send_lag[bucket_index(30 * US)] == 1


def test_repr_shows_the_lead() -> None:
    assert repr(Pacer(lead_ns=7)) == "<Pacer lead=7ns wake=None>"
