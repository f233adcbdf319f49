"""Framing of responses to HEAD requests.

A response to HEAD has no body whatever its Content-Length says (RFC 9110 §9.3.2), and
httptools cannot be told so: llhttp learns it from on_headers_complete returning 1, which
httptools does not expose. HEAD responses are therefore framed here: each one is exactly a
header block ending in CRLF CRLF. This class offers the part of HttpResponseParser's interface
that `H1Connection` uses, and calls the same `on_header` / `on_message_complete` callbacks.
"""

from __future__ import annotations

from typing import Any

from httptools import HttpParserError

MAX_HEADER_BLOCK = 64 * 1024


class HeadResponseParser:
    def __init__(self, protocol: Any) -> None:
        self._on_header = getattr(protocol, "on_header", None)
        self._on_message_complete = protocol.on_message_complete
        self._buffer = b""
        self._status = 0
        self._keep_alive = True

    def get_status_code(self) -> int:
        return self._status

    def should_keep_alive(self) -> bool:
        return self._keep_alive

    def feed_data(self, data: bytes) -> None:
        buffer = self._buffer + data if self._buffer else data
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                break
            block, buffer = buffer[:end], buffer[end + 4 :]
            self._buffer = buffer
            self._parse(block)
            self._on_message_complete()
        if len(buffer) > MAX_HEADER_BLOCK:
            raise HttpParserError("response header block too large")
        self._buffer = buffer

    def _parse(self, block: bytes) -> None:
        status_line, *lines = block.split(b"\r\n")
        version, _, rest = status_line.partition(b" ")
        code = rest[:3]
        if (
            not version.startswith(b"HTTP/1.")
            or len(code) != 3
            or not code.isdigit()
            or rest[3:4] not in (b"", b" ")
        ):
            raise HttpParserError(f"bad status line {status_line[:80]!r}")
        keep_alive = version != b"HTTP/1.0"
        for line in lines:
            name, sep, value = line.partition(b":")
            if not sep or not name or name != name.strip():
                raise HttpParserError(f"bad header line {line[:80]!r}")
            value = value.strip()
            if name.lower() == b"connection":
                tokens = {token.strip().lower() for token in value.split(b",")}
                if b"close" in tokens:
                    keep_alive = False
                elif b"keep-alive" in tokens:
                    keep_alive = True
            if self._on_header is not None:
                self._on_header(name, value)
        self._status = int(code)
        self._keep_alive = keep_alive
