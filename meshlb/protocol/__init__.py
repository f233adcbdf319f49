"""Sans-I/O HTTP/1.1 codecs: bytes in, RequestHead/ResponseHead and body events out.

Two codecs sit behind one interface: "llhttp" (httptools, the hot path) and "h11" (the
reference). Both answer to the same strictness rules (validate.py) and frame bodies with the
same decoders (body.py); the test suite and the smuggling battery run against both.
"""

from __future__ import annotations

from typing import Protocol

from .h11codec import H11RequestParser, H11ResponseParser
from .llhttp import LlhttpRequestParser, LlhttpResponseParser
from .messages import H1Limits, RequestHead, RequestSink, ResponseSink
from .validate import ProtocolError

CODECS = ("llhttp", "h11")


class RequestParser(Protocol):
    def feed(self, data: bytes) -> None:
        """Parse client bytes; sink calls happen inside. Input after an error is ignored."""

    def feed_eof(self) -> None:
        """The client closed its side; a partial message is dropped."""

    def take_whole(self, data: bytes) -> RequestHead | None:
        """`data` as one whole bodiless request of the common shape, or None: feed() it."""

    def resume(self) -> None:
        """After an upgrade request: the upgrade was refused, parse held bytes as HTTP/1.1."""

    def detach(self) -> bytes:
        """After an upgrade request: the protocol switched; return the bytes held since."""

    def held_bytes(self) -> int:
        """How many bytes are held after an upgrade request, until resume() or detach()."""

    @property
    def idle(self) -> bool:
        """Between messages with nothing buffered."""


class ResponseParser(Protocol):
    def feed(self, data: bytes) -> None: ...

    def feed_eof(self) -> None:
        """Ends a body read until close; a cut-short response gets on_response_error."""

    def take_whole(self, data: bytes) -> tuple[int, bytes, bool, bytes, int] | None:
        """`data` as the whole expected response, or None: feed() it (reader.WholeResponse)."""

    def expect(self, method: bytes) -> None:
        """Announce a request sent on this connection (HEAD responses have no body)."""

    def resume(self) -> None: ...

    def detach(self) -> bytes:
        """After a 101: return the upstream bytes held since the switch."""

    @property
    def idle(self) -> bool: ...


def make_request_parser(
    codec: str, sink: RequestSink, limits: H1Limits | None = None
) -> RequestParser:
    limits = limits or H1Limits()
    if codec == "llhttp":
        return LlhttpRequestParser(sink, limits)
    if codec == "h11":
        return H11RequestParser(sink, limits)
    raise ValueError(f"unknown HTTP/1.1 codec {codec!r} (expected one of {CODECS})")


def make_response_parser(
    codec: str, sink: ResponseSink, limits: H1Limits | None = None
) -> ResponseParser:
    limits = limits or H1Limits()
    if codec == "llhttp":
        return LlhttpResponseParser(sink, limits)
    if codec == "h11":
        return H11ResponseParser(sink, limits)
    raise ValueError(f"unknown HTTP/1.1 codec {codec!r} (expected one of {CODECS})")


__all__ = [
    "CODECS",
    "H1Limits",
    "ProtocolError",
    "RequestParser",
    "ResponseParser",
    "RequestSink",
    "ResponseSink",
    "make_request_parser",
    "make_response_parser",
]
