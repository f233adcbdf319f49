"""Head builders: field lines in, RequestHead / ResponseHead out, message rules applied.

A builder is fed one field line at a time through `on_header(name, value)` (the name as
received; the value without its leading OWS but with any trailing OWS, which rule M2 looks
at), then `finish(...)` applies the message rules (M1-M9 in validate.py) and returns the head.
The llhttp codec hands the builder to httptools as its callback object, so a field line costs
exactly one Python call; the h11 codec feeds it from `split_fields`. One builder serves every
message of a connection.

Per-message state is a short list indexed by the field kinds of headers.py (`seen[HOST]`,
...), so starting the next message is one list copy rather than a dozen attribute stores.
`on_header` never raises: the first error is recorded and raised by `finish`, so that no
exception has to cross httptools' C callbacks.
"""

from __future__ import annotations

from typing import Any, Final

from .headers import (
    COMMON_CONNECTION,
    CONNECTION,
    CONNECTION_OPTIONS,
    CONTENT_LENGTH,
    EXPECT,
    FORWARDED_FOR,
    HOST,
    KEEP_ALIVE,
    KIND,
    PLAIN,
    REQUEST_ID,
    TRANSFER_ENCODING,
    UPGRADE,
    connection_tokens,
    named_fields,
)
from .messages import H1Limits, Headers, RequestHead, ResponseHead
from .validate import (
    ProtocolError,
    check_head_bytes,
    check_host,
    check_transfer_encoding,
    parse_content_length,
    parse_request_line,
    parse_status_line,
    split_fields,
)

_plain = PLAIN.get
_kind = KIND.get
_common_connection = COMMON_CONNECTION.get

_COUNT: Final = 0  # field lines consumed into `seen` rather than kept in `headers`
_ERROR: Final = 10  # the first ProtocolError
_NOT_VERBATIM: Final = 11  # True: a framing field must not be forwarded as received
_FRESH: Final[list[Any]] = [0, *[None] * 12]
_NO_TOKENS: Final[frozenset[bytes]] = frozenset()


class _HeadBuilder:
    __slots__ = ("limits", "headers", "seen")

    def __init__(self, limits: H1Limits) -> None:
        self.limits = limits
        self.headers: Headers = []
        self.seen: list[Any] = _FRESH[:]

    def reset(self) -> None:
        self.headers = []
        self.seen = _FRESH[:]

    def on_header(self, name: bytes, value: bytes) -> None:
        lname = _plain(name)
        if lname is not None:
            self.headers.append((lname, value.rstrip(b" \t")))
            return
        kind = _kind(name)
        seen = self.seen
        if kind == HOST and seen[HOST] is None:  # in every request: inlined
            host = seen[HOST] = value.rstrip(b" \t")
            seen[_COUNT] += 1
            if len(host) != len(value):
                seen[_NOT_VERBATIM] = True
        elif (
            kind == CONTENT_LENGTH
            and seen[CONTENT_LENGTH] is None
            and value.isdigit()  # and so no trailing OWS (the slow path handles that)
            and len(value) <= 18
            and value[0] != 0x30  # leading zeros: the slow path decides
        ):
            seen[CONTENT_LENGTH] = int(value)
            seen[_COUNT] += 1
        elif kind == CONNECTION and seen[CONNECTION] is None:
            tokens = _common_connection(value)
            if tokens is None:
                self._special(name, value, kind)
            else:
                seen[CONNECTION] = tokens
                seen[_COUNT] += 1
        else:
            self._special(name, value, kind)

    def _special(self, name: bytes, raw_value: bytes, kind: int | None) -> None:
        value = raw_value.rstrip(b" \t")
        if kind is None:
            name = name.lower()
            kind = _kind(name)
            if kind is None:
                if name[:6] == b"proxy-":
                    self.seen[_COUNT] += 1
                else:
                    self.headers.append((name, value))
                return
        seen = self.seen
        if kind == HOST:
            if seen[HOST] is None:
                seen[HOST] = value
                if len(raw_value) != len(value):
                    seen[_NOT_VERBATIM] = True
            else:
                self._error("repeated Host")
        elif kind == CONNECTION:
            tokens = connection_tokens(value)
            if tokens is None:
                self._error("invalid Connection option, or one that names a framing field")
            else:
                seen[CONNECTION] = tokens if seen[CONNECTION] is None else seen[CONNECTION] | tokens
        elif kind == REQUEST_ID:
            self.headers.append((b"x-request-id", value))
            if seen[REQUEST_ID] is None:
                seen[REQUEST_ID] = value
            return
        elif kind == CONTENT_LENGTH:
            length = parse_content_length(value)
            if seen[CONTENT_LENGTH] is not None:
                self._error("repeated Content-Length")
            elif length < 0:
                self._error("invalid Content-Length")
            else:
                seen[CONTENT_LENGTH] = length
                # "005" (some parsers read octal) or "5 ": forward the canonical form instead
                if len(value) > 1 and value[0] == 0x30 or len(raw_value) != len(value):
                    seen[_NOT_VERBATIM] = True
        elif kind == TRANSFER_ENCODING:
            if seen[TRANSFER_ENCODING] is not None:
                self._error("repeated Transfer-Encoding")
            elif not check_transfer_encoding(raw_value):
                self._error("unsupported Transfer-Encoding (only a single chunked)")
            else:
                seen[TRANSFER_ENCODING] = True
                if raw_value != b"chunked":  # not every parser lowers codings
                    seen[_NOT_VERBATIM] = True
        elif kind in (FORWARDED_FOR, UPGRADE):
            seen[kind] = value if seen[kind] is None else seen[kind] + b", " + value
        elif kind == EXPECT:
            self.headers.append((b"expect", value))
            seen[EXPECT] = value if seen[EXPECT] is None else seen[EXPECT] + b", " + value
            return
        elif kind == KEEP_ALIVE:
            seen[KEEP_ALIVE] = value
        # else HOP_BY_HOP: proxy-connection, te, trailer are dropped
        seen[_COUNT] += 1

    def _error(self, reason: str) -> None:
        if self.seen[_ERROR] is None:
            self.seen[_ERROR] = ProtocolError(400, reason)


def keep_alive_timeout(value: bytes) -> float | None:
    """The `timeout=` parameter of a Keep-Alive field (RFC 2068 §19.7.1.1): how long the
    server keeps an idle connection open. None if absent or invalid."""
    for param in value.split(b","):
        name, _, number = param.strip().partition(b"=")
        if name.strip().lower() == b"timeout":
            try:
                seconds = float(number.strip().strip(b'"'))
            except ValueError:
                return None
            return seconds if 0 <= seconds < 1e9 else None
    return None


def _keep_alive(version: bytes, tokens: frozenset[bytes]) -> bool:
    # RFC 9112 §9.3: close wins; HTTP/1.1 persists by default, HTTP/1.0 only when asked.
    return b"close" not in tokens and (version == b"1.1" or b"keep-alive" in tokens)


class RequestHeadBuilder(_HeadBuilder):
    __slots__ = ("valid_host",)

    def __init__(self, limits: H1Limits) -> None:
        super().__init__(limits)
        self.valid_host = b""  # the last Host that passed check_host

    def finish(
        self, method: bytes, target: bytes, version: bytes, head: bytes | None = None
    ) -> RequestHead:
        """Apply M1-M9 to the fields seen since the last finish, and start afresh.

        With the complete `head` the result also carries its field lines verbatim (`raw`)
        when that is the same as forwarding `headers`, Host and the framing field.
        """
        headers, seen = self.headers, self.seen  # this message's fields; start afresh
        self.headers = []
        self.seen = _FRESH[:]
        if seen[_ERROR] is not None:
            raise seen[_ERROR]
        limits = self.limits
        if len(headers) + seen[_COUNT] > limits.max_headers:
            raise ProtocolError(431, "too many header fields")
        length = seen[CONTENT_LENGTH]
        chunked = seen[TRANSFER_ENCODING] is not None
        if chunked:
            if length is not None:
                raise ProtocolError(400, "both Transfer-Encoding and Content-Length")
            if version == b"1.0":
                raise ProtocolError(400, "Transfer-Encoding in HTTP/1.0")
        elif length and limits.max_body_bytes and length > limits.max_body_bytes:
            raise ProtocolError(413, "request body too large")

        host = seen[HOST]
        if host is not None:
            if host != self.valid_host:  # the same on every request of a connection
                check_host(host)
                self.valid_host = host
        elif version == b"1.1":
            raise ProtocolError(400, "missing Host")
        if target[0] == 0x2F:  # "/": origin-form, the common case
            if 0x23 in target:  # "#" (an int operand skips bytes.__contains__'s int attempt)
                raise ProtocolError(400, "fragment in request target")
        elif target == b"*":
            if method != b"OPTIONS":
                raise ProtocolError(400, "asterisk-form is for OPTIONS only")
        else:
            target, host = _absolute_form(target, host, limits.absolute_form)
            head = None  # the Host line received may not be the host to forward

        tokens = seen[CONNECTION]
        upgrade = None
        expect_continue = False
        if tokens is None:
            keep_alive = version == b"1.1"
        else:
            # RFC 9112 §9.3: close wins; HTTP/1.1 persists by default, HTTP/1.0 when asked.
            keep_alive = b"close" not in tokens and (version == b"1.1" or b"keep-alive" in tokens)
            if b"upgrade" in tokens and version == b"1.1" and seen[UPGRADE] is not None:
                # RFC 9110 §7.8: ignored in HTTP/1.0, and a server may ignore it anyway.
                upgrade = allowed_upgrade(seen[UPGRADE], limits.upgrade)
                if upgrade is not None and (length or chunked):
                    raise ProtocolError(400, "Upgrade request with a body")
            if not tokens <= CONNECTION_OPTIONS:
                named = named_fields(tokens)
                # The client declared these hop-by-hop: they do not travel, surfaced or not.
                headers = [field for field in headers if field[0] not in named]
                if b"x-forwarded-for" in named:
                    seen[FORWARDED_FOR] = None
                if b"x-request-id" in named:
                    seen[REQUEST_ID] = None
        if seen[EXPECT] is not None:
            if seen[EXPECT].lower() != b"100-continue":
                raise ProtocolError(417, "unsupported expectation")
            expect_continue = version == b"1.1"  # RFC 9110 §10.1.1: ignored in HTTP/1.0
        return RequestHead(
            method,
            target,
            version,
            host or b"",
            headers,
            keep_alive,
            length,
            chunked,
            expect_continue,
            upgrade,
            seen[FORWARDED_FOR],
            seen[REQUEST_ID],
            # Not verbatim with X-Forwarded-*, X-Real-IP or Forwarded either: meshlb decides
            # about those itself (proxy/forwarding.py). (The test is on the whole head, so a
            # mere mention also costs the fast form.)
            _verbatim(head, seen, (host is not None) + (length is not None) + chunked)
            if head is not None and not _mentions_forwarding(head)
            else None,
        )


def allowed_upgrade(value: bytes, allowed: frozenset[bytes]) -> bytes | None:
    """The protocols of an Upgrade value that `allowed` names, as received; None if none.

    A protocol is `name["/" version]` (RFC 9110 §7.8) and its name is matched without regard
    to case. The others are dropped: the request goes on as an ordinary one, which RFC 9110
    §7.8 allows ("a server MAY ignore a received Upgrade header field").
    """
    kept = [
        item
        for item in (part.strip(b" \t") for part in value.split(b","))
        if item.partition(b"/")[0].lower() in allowed
    ]
    return b", ".join(kept) if kept else None


def _mentions_forwarding(head: bytes) -> bool:
    lower = head.lower()
    return b"forwarded" in lower or b"x-real-ip" in lower


def _absolute_form(target: bytes, host: bytes | None, policy: str) -> tuple[bytes, bytes]:
    """`http://a.example/x?q` -> (b"/x?q", authority) under RFC 9112 §3.2.2."""
    scheme_end = target.find(b"://")
    if scheme_end < 0 or target[:scheme_end].lower() not in (b"http", b"https"):
        raise ProtocolError(400, "invalid request target")
    rest = target[scheme_end + 3 :]
    end = len(rest)
    for delimiter in (b"/", b"?"):
        found = rest.find(delimiter)
        if 0 <= found < end:
            end = found
    authority, path = rest[:end], rest[end:]
    if not authority or b"@" in authority:
        raise ProtocolError(400, "invalid authority in request target")
    check_host(authority)
    if b"#" in path:
        raise ProtocolError(400, "fragment in request target")
    if path[:1] != b"/":
        path = b"/" + path
    if host is not None and authority.lower() != host.lower() and policy == "reject":
        raise ProtocolError(400, "absolute-form authority differs from Host")
    return path, authority


class ResponseHeadBuilder(_HeadBuilder):
    """Responses follow the same field rules; any violation fails the exchange (502)."""

    __slots__ = ()

    def finish(
        self, status: int, reason: bytes, version: bytes, head: bytes | None = None
    ) -> ResponseHead:
        headers, seen = self.headers, self.seen  # this message's fields; start afresh
        self.headers = []
        self.seen = _FRESH[:]
        if seen[_ERROR] is not None:
            raise ProtocolError(502, seen[_ERROR].reason)
        if len(headers) + seen[_COUNT] > self.limits.max_headers:
            raise ProtocolError(502, "too many header fields")
        length = seen[CONTENT_LENGTH]
        chunked = seen[TRANSFER_ENCODING] is not None
        if chunked and length is not None:
            raise ProtocolError(502, "both Transfer-Encoding and Content-Length")
        if chunked and version == b"1.0":
            raise ProtocolError(502, "Transfer-Encoding in HTTP/1.0")
        if (status < 200 or status == 204) and (chunked or length):
            # RFC 9110 §8.6, RFC 9112 §6.1: no Content-Length or Transfer-Encoding here.
            raise ProtocolError(502, "framing fields in a 1xx or 204 response")
        framing_fields = (length is not None) + chunked
        if seen[_COUNT] == framing_fields:
            # The common case: nothing but the framing field was consumed, no Connection.
            raw = None if head is None else _verbatim(head, seen, framing_fields)
            keep_alive = version == b"1.1"
            return ResponseHead(status, reason, version, headers, keep_alive, length, chunked, raw)
        # Fields only a request gives meaning to stay end-to-end fields in a response.
        if seen[HOST] is not None:
            headers.append((b"host", seen[HOST]))
        if seen[FORWARDED_FOR] is not None:
            headers.append((b"x-forwarded-for", seen[FORWARDED_FOR]))
        tokens = seen[CONNECTION] or _NO_TOKENS
        named = named_fields(tokens)
        if named:
            headers = [field for field in headers if field[0] not in named]
        if status == 101 and seen[UPGRADE] is not None:
            # ResponseHead has no upgrade field: the protocol switched to must reach the client.
            headers.append((b"upgrade", seen[UPGRADE]))
        keep_alive = _keep_alive(version, tokens)
        response = ResponseHead(status, reason, version, headers, keep_alive, length, chunked)
        if seen[KEEP_ALIVE] is not None:
            response.idle_timeout = keep_alive_timeout(seen[KEEP_ALIVE])
        return response


def _verbatim(head: bytes, seen: list[Any], framing_fields: int) -> bytes | None:
    """The field lines of `head` as received, if nothing but `framing_fields` was consumed.

    Those are Host, Content-Length and Transfer-Encoding, and only with values every parser
    reads alike (canonical, no trailing whitespace); a head that lost a hop-by-hop or
    forwarding field gets None.
    """
    if seen[_COUNT] != framing_fields or seen[_NOT_VERBATIM]:
        return None
    return head[head.index(b"\r\n") + 2 : -2]


def parse_request_head(head: bytes, builder: RequestHeadBuilder) -> RequestHead:
    """Our own parse of a complete request head: every S rule on the raw bytes, then M.

    The h11 codec uses it for its fields, and the llhttp codec to explain a head that llhttp
    rejected, so that both codecs answer a malformed head with the same status.
    """
    line_end = head.find(b"\r\n")
    method, target, version = parse_request_line(head[:line_end], builder.limits)
    check_head_bytes(head, 0, complete=True)
    _, fields = split_fields(head)
    for name, value in fields:
        builder.on_header(name, value)
    return builder.finish(method, target, version, head)


def parse_response_head(head: bytes, builder: ResponseHeadBuilder) -> ResponseHead:
    """As parse_request_head, for a status line and response fields."""
    line_end = head.find(b"\r\n")
    version, status, reason = parse_status_line(head[:line_end])
    try:
        check_head_bytes(head, 0, complete=True)
        _, fields = split_fields(head)
    except ProtocolError as exc:
        raise ProtocolError(502, exc.reason) from None
    for name, value in fields:
        builder.on_header(name, value)
    return builder.finish(status, reason, version, head)
