"""Body decoders: Content-Length, chunked and read-until-close, fed in every way."""

from __future__ import annotations

import pytest

from meshlb.protocol.body import ChunkedBody, ContentLengthBody, UntilCloseBody
from meshlb.protocol.validate import MAX_CHUNK_EXT_BYTES, ProtocolError


def chunked(
    max_body: int = 0, max_trailer_bytes: int = 1024, max_trailers: int = 8
) -> tuple[ChunkedBody, list[bytes]]:
    out: list[bytes] = []
    return ChunkedBody(out.append, max_body, max_trailer_bytes, max_trailers), out


def feed_pieces(body: ChunkedBody | ContentLengthBody, pieces: list[bytes]) -> int:
    """Feed until the body ends; the position just past it within the last piece."""
    for index, piece in enumerate(pieces):
        end = body.feed(piece, 0)
        if end >= 0:
            assert index == len(pieces) - 1 or not b"".join(pieces[index + 1 :]), "data after end"
            return end
    return -1


def test_content_length_body_stops_at_its_length() -> None:
    out: list[bytes] = []
    body = ContentLengthBody(5, out.append)
    assert body.feed(b"xxhel", 2) == -1
    assert body.feed(b"loNEXT", 0) == 2
    assert out == [b"hel", b"lo"]


def test_content_length_body_passes_a_whole_read_without_copying() -> None:
    out: list[bytes] = []
    data = b"hello"
    assert ContentLengthBody(5, out.append).feed(data, 0) == 5
    assert out[0] is data


ENCODED = b"4;a=1\r\nwiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nT: 1\r\n\r\n"


def test_chunked_body_at_every_split_point() -> None:
    for cut in range(len(ENCODED) + 1):
        body, out = chunked()
        first = body.feed(ENCODED[:cut], 0)
        end = first if first >= 0 else body.feed(ENCODED[cut:] + b"NEXT", 0) + cut
        assert end == len(ENCODED), cut
        assert b"".join(out) == b"wikipedia in\r\n\r\nchunks.", cut


def test_chunked_body_one_byte_at_a_time_never_buffers_data() -> None:
    body, out = chunked()
    ends = [body.feed(ENCODED[i : i + 1], 0) for i in range(len(ENCODED))]
    assert ends[-1] == 1 and all(end == -1 for end in ends[:-1])
    assert all(len(piece) == 1 for piece in out)


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"5\r\nhelloX\r\n", 400),
        (b"5\r\nhello\rX", 400),
        (b"5\r\nhello\n", 400),
        (b"zz\r\n", 400),
        (b"5\n", 400),  # a bare LF ends no line (RFC 9112 §7.1): refused at once
        (b"5;a=b\n", 400),
        (b"5\rX", 400),
        (b"5\r", None),  # not yet an error: its LF may be in the next read
        (b"0\r\nX: a\n", 400),
        (b"0\r\n\n", 400),
        (b"0\r\nBad Name: x\r\n\r\n", 400),
        (b"0\r\nX: \x7f\r\n\r\n", 400),
    ],
)
def test_chunked_body_errors(data: bytes, status: int | None) -> None:
    body, _ = chunked()
    try:
        body.feed(data, 0)
    except ProtocolError as exc:
        assert exc.status == status
    else:
        assert status is None


def test_a_chunk_size_line_cannot_grow_forever() -> None:
    body, _ = chunked()
    with pytest.raises(ProtocolError):
        for _ in range(MAX_CHUNK_EXT_BYTES // 64 + 2):
            body.feed(b"5;" + b"a" * 62, 0)


def test_chunk_extensions_are_budgeted_per_message() -> None:
    body, _ = chunked()
    chunk = b"1;" + b"e" * 1000 + b"\r\nx\r\n"
    with pytest.raises(ProtocolError, match="extensions"):
        for _ in range(5):
            body.feed(chunk, 0)


def test_trailers_are_bounded_in_count_and_bytes() -> None:
    body, _ = chunked(max_trailers=2)
    with pytest.raises(ProtocolError) as caught:
        body.feed(b"0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", 0)
    assert caught.value.status == 431
    body, _ = chunked(max_trailer_bytes=16)
    with pytest.raises(ProtocolError):
        body.feed(b"0\r\nA: " + b"1" * 32, 0)


def test_body_limit_is_checked_against_the_declared_chunk_size() -> None:
    body, out = chunked(max_body=8)
    body.feed(b"8\r\n12345678\r\n", 0)
    with pytest.raises(ProtocolError) as caught:
        body.feed(b"1\r\n", 0)
    assert caught.value.status == 413 and out == [b"12345678"]


def test_until_close_body_takes_everything() -> None:
    out: list[bytes] = []
    body = UntilCloseBody(out.append)
    assert body.feed(b"abc", 1) == -1 and body.feed(b"", 0) == -1
    assert out == [b"bc"]
