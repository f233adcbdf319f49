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


def _get_headers(head: RequestHead | ResponseHead) -> Headers:
    headers = head._headers
    if headers is None:
        headers = head._headers = fields_of(head.raw or b"")
    return headers


def _set_headers(head: RequestHead | ResponseHead, headers: Headers) -> None:
    head._headers = headers


# The heads are msgspec Structs for their construction cost, which is paid on every
# message: a third of a class with an __init__ (they are never encoded). Not tracked by the
# garbage collector: they hold bytes, ints and one list of byte pairs, never a cycle.


class RequestHead(msgspec.Struct, gc=False):
    method: bytes  # b"GET"
    target: bytes  # origin-form (b"/path?q"), or b"*" for OPTIONS *
    version: bytes  # b"1.1" or b"1.0"
    host: bytes  # Host header value (b"" for HTTP/1.0 without Host)
    # End-to-end headers only (see module docstring); None: read from `raw` when asked,
    # through the `headers` property.
    _headers: Headers | None
    keep_alive: bool  # the client allows another request on this connection
    content_length: int | None  # None when absent
    chunked: bool  # Transfer-Encoding: chunked
    expect_continue: bool = False  # Expect: 100-continue
    upgrade: bytes | None = None  # Upgrade header value when Connection: upgrade was asked
    forwarded_for: bytes | None = None  # existing X-Forwarded-For (removed from headers)
    request_id: bytes | None = None  # existing X-Request-Id (left in headers)
    # The field lines to forward verbatim, when the codec can give them cheaply: every line
    # of `headers` plus Host, Content-Length and Transfer-Encoding exactly as received, each
    # ending in CRLF, in order. None: serialize `headers` instead.
    raw: bytes | None = None

    headers = property(_get_headers, _set_headers)

    @property
    def has_body(self) -> bool:
        return self.chunked or bool(self.content_length)

    def __repr__(self) -> str:
        return f"<RequestHead {self.method.decode()} {self.target!r} HTTP/{self.version.decode()}>"


class ResponseHead(msgspec.Struct, gc=False):
    status: int
    reason: bytes
    version: bytes
    _headers: Headers | None  # end-to-end headers only; None: read from `raw` when asked
    keep_alive: bool  # the upstream connection may be reused afterwards
    content_length: int | None
    chunked: bool  # False with content_length None means "body until close"
    # As for requests: `headers` as received, each line ending in CRLF, plus the
    # Content-Length or Transfer-Encoding line; None: serialize `headers` instead.
    raw: bytes | None = None
    idle_timeout: float | None = None  # Keep-Alive: timeout=N, the upstream's idle limit

    headers = property(_get_headers, _set_headers)

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
    # Protocols a request may ask to upgrade to, lower-case; any other is ignored (heads.py).
    upgrade: frozenset[bytes] = frozenset((b"websocket",))
