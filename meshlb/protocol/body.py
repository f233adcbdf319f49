"""Body framing shared by both codecs: Content-Length, chunked, and read-until-close.

A decoder is fed `(data, pos)` and returns the position just past the end of its body, or
-1 when it consumed everything and needs more. Body bytes go straight to `on_body`; a chunk
split across reads is delivered in pieces, never buffered. Only chunk-size and trailer lines
are buffered, and both are bounded.

Chunked framing (RFC 9112 §7.1) is ours rather than llhttp's or h11's so that one set of
chunk rules applies to both codecs (validate.py: 1-16 hex digits, no whitespace, bounded and
well-formed extensions, CRLF after data, trailers checked like fields and dropped).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from .validate import MAX_CHUNK_EXT_BYTES, ProtocolError, check_field_line, parse_chunk_size

BodyCallback = Callable[[bytes], None]

_SIZE: Final = 0
_DATA: Final = 1
_DATA_END: Final = 2
_TRAILER: Final = 3

_MAX_SIZE_LINE: Final = 16 + MAX_CHUNK_EXT_BYTES


class ContentLengthBody:
    __slots__ = ("remaining", "on_body")

    def __init__(self, length: int, on_body: BodyCallback) -> None:
        self.remaining = length
        self.on_body = on_body

    def feed(self, data: bytes, pos: int) -> int:
        available = len(data) - pos
        remaining = self.remaining
        if available < remaining:
            if available:
                self.on_body(data[pos:] if pos else data)
                self.remaining = remaining - available
            return -1
        end = pos + remaining
        self.on_body(data if pos == 0 and end == len(data) else data[pos:end])
        self.remaining = 0
        return end

    def __repr__(self) -> str:
        return f"<ContentLengthBody remaining={self.remaining}>"


class UntilCloseBody:
    """A response without length: everything until the connection closes (RFC 9112 §6.3)."""

    __slots__ = ("on_body",)

    def __init__(self, on_body: BodyCallback) -> None:
        self.on_body = on_body

    def feed(self, data: bytes, pos: int) -> int:
        if pos < len(data):
            self.on_body(data[pos:] if pos else data)
        return -1

    def __repr__(self) -> str:
        return "<UntilCloseBody>"


class ChunkedBody:
    __slots__ = (
        "on_body",
        "max_body",
        "max_trailer_bytes",
        "max_trailers",
        "state",
        "remaining",
        "line",
        "total",
        "ext_bytes",
        "trailer_bytes",
        "trailers",
    )

    def __init__(
        self, on_body: BodyCallback, max_body: int, max_trailer_bytes: int, max_trailers: int
    ) -> None:
        self.on_body = on_body
        self.max_body = max_body  # 0 = unlimited
        self.max_trailer_bytes = max_trailer_bytes
        self.max_trailers = max_trailers
        self.state = _SIZE
        self.remaining = 0  # bytes of chunk data still to come
        self.line = b""  # a size, data-end or trailer line received in part
        self.total = 0
        self.ext_bytes = 0
        self.trailer_bytes = 0
        self.trailers = 0

    def feed(self, data: bytes, pos: int) -> int:
        end = len(data)
        while pos < end:
            state = self.state
            if state == _DATA:
                stop = min(end, pos + self.remaining)
                self.on_body(data[pos:stop])
                self.remaining -= stop - pos
                pos = stop
                if not self.remaining:
                    self.state = _DATA_END
                continue
            if state == _DATA_END:
                pos = self._data_end(data, pos)
                continue
            if self.line[-1:] == b"\r" and data[pos] == 0x0A:
                line = self.line[:-1]  # the CRLF straddles two reads
                pos += 1
            else:
                newline = data.find(b"\r\n", pos)
                if newline < 0:
                    self._keep_partial_line(data[pos:])
                    return -1
                line = self.line + data[pos:newline] if self.line else data[pos:newline]
                pos = newline + 2
            self.line = b""
            if state == _SIZE:
                self._size_line(line)
            elif self._trailer_line(line):
                return pos
        return -1

    def _data_end(self, data: bytes, pos: int) -> int:
        # The two bytes after chunk data must be CRLF; they may arrive one at a time.
        want = b"\r\n"[len(self.line) :]
        got = data[pos : pos + len(want)]
        if not want.startswith(got):
            raise ProtocolError(400, "chunk data not followed by CRLF")
        if got == want:
            self.line = b""
            self.state = _SIZE
        else:
            self.line += got
        return pos + len(got)

    def _keep_partial_line(self, part: bytes) -> None:
        # Refuse a line that can no longer end well as soon as it is too long, with the
        # status the complete line would get (so the answer does not depend on the reads).
        line = self.line + part
        if b"\n" in part or b"\r" in line[:-1]:
            # RFC 9112 §7.1: chunk-size, chunk-ext and trailer lines end in CRLF. A bare LF
            # (or CR) ends nothing: waiting for a CRLF that may never come would leave the
            # connection hanging, and a peer that framed the line at that LF reads another
            # body than ours.
            raise ProtocolError(400, "bare LF or CR in chunked framing")
        if self.state == _SIZE:
            if len(line) > _MAX_SIZE_LINE + 1:
                raise ProtocolError(400, "chunk size line too long")
        elif self.trailer_bytes + len(line) + 1 > self.max_trailer_bytes:
            raise ProtocolError(431, "trailer section too large")
        self.line = line

    def _size_line(self, line: bytes) -> None:
        size, ext_bytes = parse_chunk_size(line)
        if ext_bytes:
            self.ext_bytes += ext_bytes
            if self.ext_bytes > MAX_CHUNK_EXT_BYTES:
                raise ProtocolError(400, "chunk extensions too long")
        if size == 0:
            self.state = _TRAILER
            return
        self.total += size
        if self.max_body and self.total > self.max_body:
            raise ProtocolError(413, "request body too large")
        self.remaining = size
        self.state = _DATA

    def _trailer_line(self, line: bytes) -> bool:
        """Check and drop one trailer field; True at the empty line that ends the body."""
        if not line:
            return True
        self.trailers += 1
        self.trailer_bytes += len(line) + 2
        if self.trailers > self.max_trailers or self.trailer_bytes > self.max_trailer_bytes:
            raise ProtocolError(431, "trailer section too large")
        check_field_line(line)
        return False

    def __repr__(self) -> str:
        return f"<ChunkedBody state={self.state} remaining={self.remaining} total={self.total}>"
