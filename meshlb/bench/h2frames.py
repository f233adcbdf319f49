"""Keeping GOAWAY frames away from h2.

h2's connection state machine moves to CLOSED when it receives GOAWAY and raises on every
frame after it, but a server that sends a graceful GOAWAY (nginx does after
`keepalive_requests`) still finishes the streams up to the frame's last stream id (RFC 9113
§6.8). So the client splits its input into frames (a 9-byte header: 24-bit length, type,
flags, stream id) and hands h2 everything except GOAWAY, which it handles itself.

Only complete frames are passed on; a partial one waits for the next read, as h2 would keep it.
"""

from __future__ import annotations

from dataclasses import dataclass

HEADER = 9
GOAWAY = 0x7


@dataclass(frozen=True, slots=True)
class GoAway:
    last_stream_id: int
    error_code: int


class GoAwayFilter:
    __slots__ = ("_pending",)

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, data: bytes) -> list[bytes | GoAway]:
        """The complete frames that have arrived, in order: runs of frames for h2 as bytes,
        with each GOAWAY in its place, decoded."""
        buffer = self._pending + data if self._pending else data
        size = len(buffer)
        position = 0
        kept_from = 0
        out: list[bytes | GoAway] = []
        while size - position >= HEADER:
            end = position + HEADER + int.from_bytes(buffer[position : position + 3], "big")
            if end > size:
                break
            if buffer[position + 3] == GOAWAY:
                if position > kept_from:
                    out.append(buffer[kept_from:position])
                payload = buffer[position + HEADER : end]
                out.append(
                    GoAway(
                        last_stream_id=int.from_bytes(payload[0:4], "big") & 0x7FFFFFFF,
                        error_code=int.from_bytes(payload[4:8], "big"),
                    )
                )
                kept_from = end
            position = end
        self._pending = buffer[position:]
        if kept_from == 0 and position == size:
            return [buffer]  # the usual case: whole frames, no GOAWAY
        if position > kept_from:
            out.append(buffer[kept_from:position])
        return out
