"""Message heads and sink interfaces shared by the HTTP/1.1 codecs.

The codecs are sans-I/O: bytes go in through `feed()`, and parsed messages come out as calls
on a sink. A head carries only end-to-end headers: hop-by-hop headers (RFC 9110 §7.6.1),
`Host`, `Content-Length` and `Transfer-Encoding` are consumed by the codec and surface as
fields, because whoever forwards the message must re-frame it anyway.
"""

from __future__ import annotations

from typing import Protocol

import msgspec

Headers = list[tuple[bytes, bytes]]  # lower-case names, values with surrounding OWS removed

# Field lines a head carries in `raw` but not in `headers`: the proxy frames messages itself.
_FRAMING = frozenset((b"host", b"content-length", b"transfer-encoding"))


def fields_of(raw: bytes) -> Headers:
    """`headers` from verbatim field lines that the codec already checked."""
    headers = []
    for line in raw.split(b"\r\n")[:-1]:
        name, _, value = line.partition(b":")
        name = name.lower()
        if name not in _FRAMING:
            headers.append((name, value.strip(b" \t")))
    return headers


class _Head:
    """What request and response heads share: their fields, parsed or verbatim."""

    __slots__ = ("_headers", "raw")

    _headers: Headers | None
    raw: bytes | None

    @property
    def headers(self) -> Headers:
        headers = self._headers
        if headers is None:
            headers = self._headers = fields_of(self.raw or b"")
        return headers

    @headers.setter
    def headers(self, headers: Headers) -> None:
        self._headers = headers


class RequestHead(_Head):
    __slots__ = (
        "method",
        "target",
        "version",
        "host",
        "keep_alive",
        "content_length",
        "chunked",
        "expect_continue",
        "upgrade",
        "forwarded_for",
        "request_id",
    )

    def __init__(
        self,
        method: bytes,
        target: bytes,
        version: bytes,
        host: bytes,
        headers: Headers | None,
        keep_alive: bool,
        content_length: int | None,
        chunked: bool,
        expect_continue: bool = False,
        upgrade: bytes | None = None,
        forwarded_for: bytes | None = None,
        request_id: bytes | None = None,
        raw: bytes | None = None,
    ) -> None:
        self.method = method  # b"GET"
        self.target = target  # origin-form (b"/path?q"), or b"*" for OPTIONS *
        self.version = version  # b"1.1" or b"1.0"
        self.host = host  # Host header value (b"" for HTTP/1.0 without Host)
        # End-to-end headers only (see module docstring); None: read from `raw` when asked.
        self._headers = headers
        self.keep_alive = keep_alive  # the client allows another request on this connection
        self.content_length = content_length  # None when absent
        self.chunked = chunked  # Transfer-Encoding: chunked
        self.expect_continue = expect_continue  # Expect: 100-continue
        self.upgrade = upgrade  # Upgrade header value when Connection: upgrade was asked
        self.forwarded_for = forwarded_for  # existing X-Forwarded-For (removed from headers)
        self.request_id = request_id  # existing X-Request-Id (left in headers)
        # The field lines to forward verbatim, when the codec can give them cheaply: every
        # line of `headers` plus Host, Content-Length and Transfer-Encoding exactly as
        # received, each ending in CRLF, in order. None: serialize `headers` instead.
        self.raw = raw

    @property
    def has_body(self) -> bool:
        return self.chunked or bool(self.content_length)

    def __repr__(self) -> str:
        return f"<RequestHead {self.method.decode()} {self.target!r} HTTP/{self.version.decode()}>"


class ResponseHead(_Head):
    __slots__ = (
        "status",
        "reason",
        "version",
        "keep_alive",
        "content_length",
        "chunked",
    )

    def __init__(
        self,
        status: int,
        reason: bytes,
        version: bytes,
        headers: Headers | None,
        keep_alive: bool,
        content_length: int | None,
        chunked: bool,
        raw: bytes | None = None,
    ) -> None:
        self.status = status
        self.reason = reason
        self.version = version
        self._headers = headers  # end-to-end headers only; None: read from `raw` when asked
        self.keep_alive = keep_alive  # the upstream connection may be reused afterwards
        self.content_length = content_length
        self.chunked = chunked  # False with content_length None means "body until close"
        # As for requests: `headers` as received, each line ending in CRLF, plus the
        # Content-Length or Transfer-Encoding line; None: serialize `headers` instead.
        self.raw = raw

    def __repr__(self) -> str:
        return f"<ResponseHead {self.status} {self.reason!r}>"


class RequestSink(Protocol):
    def on_request_head(self, head: RequestHead) -> None: ...

    def on_request_body(self, data: bytes) -> None: ...

    def on_request_end(self) -> None: ...

    def on_request_error(self, status: int, reason: str) -> None:
        """The request is invalid: answer `status` and close. Nothing more will be fed."""


class ResponseSink(Protocol):
    def on_response_head(self, head: ResponseHead) -> None: ...

    def on_response_informational(self, head: ResponseHead) -> None: ...

    def on_response_body(self, data: bytes) -> None: ...

    def on_response_end(self) -> None: ...

    def on_response_error(self, reason: str) -> None:
        """The upstream sent something that is not valid HTTP/1.1 (the proxy answers 502)."""


class H1Limits(msgspec.Struct, frozen=True):
    max_header_bytes: int = 64 * 1024  # whole head: request line + headers -> 431
    max_headers: int = 100  # -> 431
    max_target_bytes: int = 8 * 1024  # -> 414
    max_body_bytes: int = 0  # 0 = unlimited; otherwise -> 413
    absolute_form: str = "reject"  # "reject" or "rewrite" when the authority differs from Host
