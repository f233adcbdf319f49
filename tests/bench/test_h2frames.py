"""Keeping GOAWAY frames away from h2."""

from __future__ import annotations

from hyperframe.frame import DataFrame, GoAwayFrame, HeadersFrame

from meshlb.bench.h2frames import GoAway, GoAwayFilter


def data(stream_id: int, payload: bytes) -> bytes:
    frame = DataFrame(stream_id)
    frame.data = payload
    return bytes(frame.serialize())


def goaway(last_stream_id: int, error_code: int = 0) -> bytes:
    frame = GoAwayFrame(0)
    frame.last_stream_id, frame.error_code = last_stream_id, error_code
    return bytes(frame.serialize())


def test_whole_frames_pass_through_untouched() -> None:
    stream = data(1, b"abc") + data(3, b"")
    [kept] = GoAwayFilter().feed(stream)
    assert kept is stream


def test_goaway_is_taken_out_decoded_and_kept_in_its_place() -> None:
    before, after = data(1, b"x"), data(3, b"yz")
    assert GoAwayFilter().feed(before + goaway(3, error_code=2) + after) == [
        before,
        GoAway(last_stream_id=3, error_code=2),
        after,
    ]
    assert GoAwayFilter().feed(goaway(1)) == [GoAway(1, 0)]


def test_partial_frames_wait_for_the_rest() -> None:
    frames = GoAwayFilter()
    whole = data(1, b"hello") + goaway(1) + bytes(HeadersFrame(3).serialize())
    out: list[bytes | GoAway] = []
    for i in range(len(whole)):  # one byte at a time
        out.extend(item for item in frames.feed(whole[i : i + 1]) if item != b"")
    assert out == [data(1, b"hello"), GoAway(1, 0), bytes(HeadersFrame(3).serialize())]
