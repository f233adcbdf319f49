"""One HTTP/1.1 request in, one response out: the admin listener's wire format.

The admin API serves operators and scrapers, not traffic, so every connection carries one
request and is closed after the response (`Connection: close`). Requests are parsed with
httptools under hard limits (head size, body size, time to read it all) so that a slow or
hostile client costs one small coroutine and nothing else.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import unquote

import httptools

MAX_HEAD_BYTES = 16 * 1024
MAX_BODY_BYTES = 64 * 1024
READ_CHUNK = 16 * 1024


class BadRequest(Exception):
    """The bytes on the connection are not an acceptable HTTP/1.1 request."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(slots=True)
class Request:
    method: str
    path: str  # still percent-encoded; `segments()` decodes it
    query: str
    headers: dict[str, str]  # lower-case names; a repeated header keeps its last value
    body: bytes = b""

    def segments(self) -> list[str]:
        """Path segments, each percent-decoded after splitting (so %2F stays inside one)."""
        return [unquote(part) for part in self.path.strip("/").split("/")] if self.path else []


@dataclass(slots=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)

    def encode(self, *, head_only: bool = False) -> bytes:
        reason = HTTPStatus(self.status).phrase
        lines = [
            f"HTTP/1.1 {self.status} {reason}",
            f"Content-Type: {self.content_type}",
            f"Content-Length: {len(self.body)}",
            "Connection: close",
            "Cache-Control: no-store",
            "X-Content-Type-Options: nosniff",
        ]
        lines.extend(f"{name}: {value}" for name, value in self.headers)
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        return head if head_only else head + self.body


class _Collector:
    """httptools callbacks: gather one request and refuse anything over the limits.

    Bytes after the first request (pipelining) are parsed but ignored: one request a
    connection."""

    def __init__(self) -> None:
        self.url = b""
        self.headers: dict[str, str] = {}
        self.body = bytearray()
        self.head_bytes = 0
        self.complete = False

    def on_url(self, url: bytes) -> None:
        if self.complete:
            return
        self.url += url
        self._count(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.complete:
            return
        self._count(len(name) + len(value) + 4)
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        if self.complete:
            return
        self.body += body
        if len(self.body) > MAX_BODY_BYTES:
            raise BadRequest("request body too large", 413)

    def on_message_complete(self) -> None:
        self.complete = True

    def _count(self, n: int) -> None:
        self.head_bytes += n
        if self.head_bytes > MAX_HEAD_BYTES:
            raise BadRequest("request head too large", 431)


async def read_request(reader: asyncio.StreamReader) -> Request:
    """Read exactly one request; raise `BadRequest` for anything malformed or oversized.

    The caller bounds the whole read with a timeout."""
    collector = _Collector()
    parser = httptools.HttpRequestParser(collector)
    while not collector.complete:
        chunk = await reader.read(READ_CHUNK)
        if not chunk:
            raise BadRequest("connection closed before the request was complete")
        try:
            parser.feed_data(chunk)
        except httptools.HttpParserUpgrade:
            raise BadRequest("protocol upgrades are not supported") from None
        except httptools.HttpParserError as exc:
            if collector.complete:  # what follows the request is not our concern
                break
            # A BadRequest raised inside a callback arrives as the error's cause.
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, BadRequest):
                raise cause from None
            raise BadRequest(f"malformed request: {exc}") from None
    try:
        url = httptools.parse_url(collector.url)
    except httptools.HttpParserInvalidURLError:
        raise BadRequest("malformed request target") from None
    if url.schema is not None or not (url.path or b"").startswith(b"/"):
        raise BadRequest("the request target must be an origin-form path")
    return Request(
        method=parser.get_method().decode("ascii"),
        path=url.path.decode("latin-1"),
        query=(url.query or b"").decode("latin-1"),
        headers=collector.headers,
        body=bytes(collector.body),
    )
