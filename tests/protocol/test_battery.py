"""The malformed-request battery: both codecs refuse every case with the same status."""

from __future__ import annotations

import pytest

from meshlb.protocol import make_request_parser

from .battery import LIMITS, Bad, Good, malformed, valid
from .conftest import Recorder, bytewise, feed_all

MALFORMED = malformed()
VALID = valid()
# Cases whose head is fine and whose body is not: the head has been delivered by then.
BODY_STAGE = {case.name for case in MALFORMED if case.name.startswith(("chunk", "trailer"))}


def test_battery_is_big_enough_and_names_are_unique() -> None:
    assert len(MALFORMED) >= 70 and len(VALID) >= 20
    names = [case.name for case in MALFORMED] + [case.name for case in VALID]
    assert len(names) == len(set(names))


def _run(codec: str, pieces: list[bytes]) -> Recorder:
    recorder = Recorder()
    feed_all(make_request_parser(codec, recorder, LIMITS), pieces)
    return recorder


@pytest.mark.parametrize("case", MALFORMED, ids=lambda case: case.name)
def test_malformed_request_is_refused(codec: str, case: Bad) -> None:
    recorder = _run(codec, [case.raw])
    assert recorder.error == case.status, recorder.events
    assert "end" not in recorder.kinds, "a refused request must never complete"
    if case.name in BODY_STAGE:
        assert recorder.kinds[0] == "head"
    else:
        assert "head" not in recorder.kinds, "nothing of a refused head may be forwarded"


@pytest.mark.parametrize("case", MALFORMED, ids=lambda case: case.name)
def test_malformed_request_fed_one_byte_at_a_time(codec: str, case: Bad) -> None:
    if len(case.raw) > 6000:
        pytest.skip("limit cases are covered whole; byte feeding them only costs time")
    recorder = _run(codec, bytewise(case.raw))
    assert recorder.error == case.status, recorder.events
    assert "end" not in recorder.kinds


@pytest.mark.parametrize("case", MALFORMED, ids=lambda case: case.name)
def test_input_after_an_error_is_ignored(codec: str, case: Bad) -> None:
    recorder = Recorder()
    parser = make_request_parser(codec, recorder, LIMITS)
    parser.feed(case.raw)
    before = list(recorder.events)
    parser.feed(b"GET / HTTP/1.1\r\nHost: a.example\r\n\r\n")
    parser.feed_eof()
    assert recorder.events == before


@pytest.mark.parametrize("case", VALID, ids=lambda case: case.name)
def test_valid_edge_case_is_accepted(codec: str, case: Good) -> None:
    for pieces in ([case.raw], bytewise(case.raw) if len(case.raw) < 5000 else [case.raw]):
        recorder = _run(codec, pieces)
        assert recorder.error is None, recorder.events
        got = [(h.method, h.target, h.host) for h in recorder.heads]
        assert got == [expected[:3] for expected in case.requests]
        assert recorder.bodies == [expected[3] for expected in case.requests]


@pytest.mark.parametrize("case", MALFORMED, ids=lambda case: case.name)
def test_a_valid_request_before_a_malformed_one_still_goes_through(codec: str, case: Bad) -> None:
    first = b"GET /first HTTP/1.1\r\nHost: a.example\r\n\r\n"
    recorder = _run(codec, [first + case.raw])
    assert recorder.heads[0].target == b"/first"
    assert recorder.kinds[:2] == ["head", "end"]
    assert recorder.error == case.status
