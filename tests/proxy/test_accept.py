"""How long accepting pauses when descriptors run out (the pure part of the Acceptor)."""

from __future__ import annotations

from meshlb.proxy.accept import MAX_PAUSE, MIN_PAUSE, PauseClock


def test_a_first_pause_is_short_and_doubles_while_the_shortage_lasts() -> None:
    clock = PauseClock()
    assert clock.pause(now=10.0) == MIN_PAUSE
    assert [clock.still_short() for _ in range(5)] == [0.2, 0.4, 0.8, MAX_PAUSE, MAX_PAUSE]


def test_a_shortage_that_comes_back_soon_after_a_resume_pauses_longer() -> None:
    clock = PauseClock()
    clock.pause(now=10.0)
    clock.resumed(now=10.1)
    assert clock.pause(now=10.3) == 0.2
    clock.resumed(now=10.5)
    assert clock.pause(now=10.6) == 0.4
    assert clock.pauses == 3


def test_after_a_calm_second_a_pause_is_short_again() -> None:
    clock = PauseClock()
    clock.pause(now=10.0)
    clock.still_short()
    clock.resumed(now=10.4)
    assert clock.pause(now=11.5) == MIN_PAUSE
