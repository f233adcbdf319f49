"""Durations as the command line takes them."""

from __future__ import annotations

import pytest

from meshlb.bench.duration import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("10s", 10.0),
        ("500ms", 0.5),
        ("1m", 60.0),
        ("1.5s", 1.5),
        ("2h", 7200.0),
        ("3", 3.0),
        (" 250us ", 0.00025),
        (".5s", 0.5),
    ],
)
def test_parse_duration_accepts_the_usual_units(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "s", "10 seconds", "-1s", "1d", "1s2"])
def test_parse_duration_rejects_anything_else(text: str) -> None:
    with pytest.raises(ValueError, match="expected a duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.000812, "812us"),
        (0.0125, "12.50ms"),
        (2.0, "2.00s"),
        (90.0, "1m30s"),
    ],
)
def test_format_duration_picks_a_readable_unit(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
