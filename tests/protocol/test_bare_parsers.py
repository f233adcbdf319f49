"""What llhttp and h11 let through on their own, kept true so that an upgrade shows up here.

The lists in bare.py are the table in the README: each bare parser accepts a different part
of the battery, and the codecs refuse all of it (test_battery.py).
"""

from __future__ import annotations

from .bare import (
    H11_LETS_THROUGH,
    LLHTTP_LETS_THROUGH,
    SYNTAX_LEFT_TO_LLHTTP,
    h11_accepts,
    llhttp_accepts,
)
from .battery import malformed, valid

MALFORMED = malformed()


def test_bare_llhttp_lets_through_exactly_the_known_cases() -> None:
    assert {case.name for case in MALFORMED if llhttp_accepts(case.raw)} == LLHTTP_LETS_THROUGH


def test_bare_h11_lets_through_exactly_the_known_cases() -> None:
    assert {case.name for case in MALFORMED if h11_accepts(case.raw)} == H11_LETS_THROUGH


def test_llhttp_strict_mode_refuses_every_syntax_case_the_codec_leaves_to_it() -> None:
    # heads.py does not re-check field syntax on the llhttp path (validate.py, S1-S4).
    cases = {case.name: case for case in MALFORMED}
    assert cases.keys() >= SYNTAX_LEFT_TO_LLHTTP
    assert not {name for name in SYNTAX_LEFT_TO_LLHTTP if llhttp_accepts(cases[name].raw)}


def test_no_bare_parser_catches_everything() -> None:
    names = {case.name for case in MALFORMED}
    assert names > LLHTTP_LETS_THROUGH and names > H11_LETS_THROUGH
    assert LLHTTP_LETS_THROUGH - H11_LETS_THROUGH, "the parsers fail differently"
    assert H11_LETS_THROUGH - LLHTTP_LETS_THROUGH


def test_bare_harness_accepts_ordinary_requests() -> None:
    simple = [case for case in valid() if case.name in {"pipelined", "te_capitalized"}]
    assert simple and all(llhttp_accepts(c.raw) and h11_accepts(c.raw) for c in simple)
