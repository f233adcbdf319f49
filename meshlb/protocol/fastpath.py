"""Recognizers for the heads nearly every exchange carries, in one pass over the bytes.

Most requests are `GET /path HTTP/1.1` with a Host and a handful of ordinary fields, and
most responses are `HTTP/1.1 200 OK` with a Content-Length. For those, the general codec's
per-field work (a Python call per field line, classification, the message rules) is pure
overhead: nothing in them needs a decision. A recognizer accepts only heads that are
unambiguous under every rule of validate.py, and returns None for anything else, which then
takes the general path. So it may refuse a valid head (it only costs speed), but it must
never accept a head the general path would reject, or read one differently; the
differential tests in tests/protocol/test_fastpath.py hold it to that.

What "unambiguous" means here:

- The start line is `METHOD SP /target SP HTTP/1.1` with a known method and a target of
  visible ASCII without "#" (S5, M5, M6), or `HTTP/1.1 SP 2xx-5xx SP reason`.
- Field lines are `token ":" value` with values of visible ASCII, space and tab only: no
  CR, LF, CTL, obs-fold or obs-text (S1-S4 hold by construction).
- No field the proxy must act on appears, apart from Host, X-Request-Id and Content-Length
  in a request, Content-Length in a response, and a plain Connection (keep-alive or close)
  in either; those appear once, with canonical values (M1, M4), and the Connection line is
  cut from the verbatim lines (it is hop-by-hop). Any other special field
  (Transfer-Encoding, Upgrade, Expect, hop-by-hop fields, X-Forwarded-*, X-Real-IP,
  Forwarded, Proxy-*) sends the head the general way. Other fields go out verbatim, as the
  general path sends them.
- Limits (M9): the field count, the target length and the Content-Length against the body
  limit.

The scanning is done by `_scan.c` when the extension was built (pip builds it where a C
compiler exists), else by the pure-Python scanners below, which are the reference: both
return the same tuples, and the tests run every case against both.

The heads returned carry their field lines verbatim in `raw`; their `headers` list is built
from `raw` only if somebody asks for it (messages.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

from .messages import H1Limits, RequestHead, ResponseHead
from .validate import KNOWN_METHODS, ProtocolError, check_host

# (method, target, host, content_length or -1, keep_alive, request_id, raw) | None
RequestScan = tuple[bytes, bytes, bytes, int, bool, bytes | None, bytes] | None
# (status, reason, content_length or -1, keep_alive, raw) | None
ResponseScan = tuple[int, bytes, int, bool, bytes] | None

_NAME: Final = rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+:"
_VALUE: Final = rb"[\x20-\x7e\t]*\r\n"
_REQUEST: Final = re.compile(
    rb"([A-Z]+) (/[\x21\x22\x24-\x7e]*) HTTP/1\.1\r\n(?:" + _NAME + _VALUE + rb")*\r\n"
)
_RESPONSE: Final = re.compile(
    rb"HTTP/1\.1 ([2-5][0-9][0-9]) ([\x20-\x7e\t]*)\r\n(?:" + _NAME + _VALUE + rb")*\r\n"
)

# Every field that may need a decision, found in one pass over the lower-cased head, with
# its value (from the first non-blank byte to the end of the line, trailing blanks kept).
_SPECIAL: Final = re.compile(
    rb"\n(host|content-length|connection|transfer-encoding|upgrade|keep-alive|te|trailer"
    rb"|expect|x-request-id|x-forwarded-[^:]*|x-real-ip|forwarded|proxy-[^:]*):[ \t]*([^\r]*)"
)

_PLAIN, _HOST, _LENGTH, _CONNECTION, _REQUEST_ID, _REFUSE = range(6)
_REQUEST_KINDS: Final = {
    b"host": _HOST,
    b"content-length": _LENGTH,
    b"connection": _CONNECTION,
    b"x-request-id": _REQUEST_ID,
}
_RESPONSE_KINDS: Final = {
    b"content-length": _LENGTH,
    b"connection": _CONNECTION,
    b"expect": _PLAIN,
    b"x-request-id": _PLAIN,
    b"x-real-ip": _PLAIN,
    b"forwarded": _PLAIN,
}

# Status codes as sent, to their int, for the codes the response pattern admits.
_STATUS: Final = {b"%d" % code: code for code in range(200, 600)}


def _length(value: bytes) -> int:
    """A canonical Content-Length (M1: digits only, no leading zero, at most 18), or -2."""
    if value.isdigit() and len(value) <= 18 and (value[0] != 0x30 or len(value) == 1):
        return int(value)
    return -2


def _response_kind(name: bytes) -> int:
    kind = _RESPONSE_KINDS.get(name)
    if kind is not None:
        return kind
    return _PLAIN if name.startswith(b"x-forwarded-") and name != b"x-forwarded-for" else _REFUSE


def _connection(value: bytes) -> bool | None:
    """keep-alive -> True, close -> False; any other option: None (the general path)."""
    option = value.rstrip(b" \t")
    return True if option == b"keep-alive" else False if option == b"close" else None


def _cut(head: bytes, start: int, cut: tuple[int, int] | None) -> bytes:
    """The field lines from `start`, less the Connection line (RFC 9110 §7.6.1)."""
    return head[start:-2] if cut is None else head[start : cut[0]] + head[cut[1] : -2]


def scan_request_py(head: bytes, max_target: int, max_headers: int) -> RequestScan:
    match = _REQUEST.fullmatch(head)
    if match is None or match.end(2) - match.start(2) > max_target:
        return None
    if len(head) > 4 * max_headers and head.count(b"\n") - 2 > max_headers:
        return None  # (a field line takes at least 4 bytes: shorter heads are within)
    host = request_id = None
    length = -1
    keep_alive: bool | None = True
    cut = None
    for field in _SPECIAL.finditer(head.lower()):
        kind = _REQUEST_KINDS.get(field.group(1), _REFUSE)
        if kind == _HOST and host is None:
            start, end = field.span(2)
            host = head[start:end]
        elif kind == _LENGTH and length == -1:
            length = _length(field.group(2))
            if length < 0:
                return None
        elif kind == _CONNECTION and cut is None:
            keep_alive = _connection(field.group(2))
            if keep_alive is None:
                return None
            cut = field.start() + 1, field.end() + 2
        elif kind == _REQUEST_ID and request_id is None:
            start, end = field.span(2)
            request_id = head[start:end].rstrip(b" \t")
        else:
            return None
    if host is None:
        return None
    method, target = match.group(1, 2)
    raw = _cut(head, match.end(2) + 11, cut)  # the fields start after " HTTP/1.1\r\n"
    return method, target, host, length, bool(keep_alive), request_id, raw


def scan_response_py(head: bytes, max_headers: int) -> ResponseScan:
    match = _RESPONSE.fullmatch(head)
    if match is None:
        return None
    if len(head) > 4 * max_headers and head.count(b"\n") - 2 > max_headers:
        return None
    length = -1
    keep_alive = True
    cut = None  # the span of the Connection line, which is hop-by-hop (RFC 9110 §7.6.1)
    for field in _SPECIAL.finditer(head.lower()):
        kind = _response_kind(field.group(1))
        if kind == _PLAIN:
            continue
        if kind == _LENGTH and length == -1:
            length = _length(field.group(2))
            if length < 0:
                return None
        elif kind == _CONNECTION and cut is None:
            connection = _connection(field.group(2))
            if connection is None:
                return None
            keep_alive = connection
            cut = field.start() + 1, field.end() + 2
        else:
            return None
    status = _STATUS[match.group(1)]
    if (status == 204 or status == 304) and length >= 0:
        return None  # RFC 9110 §8.6: the general path decides what such a field means
    return status, match.group(2), length, keep_alive, _cut(head, match.end(2) + 2, cut)


scan_request: Callable[[bytes, int, int], RequestScan] = scan_request_py
scan_response: Callable[[bytes, int], ResponseScan] = scan_response_py
try:
    from ._scan import scan_request, scan_response  # type: ignore[no-redef]

    SCANNER = "c"
except ImportError:  # built without a C compiler: the same rules, slower
    SCANNER = "python"


def fast_request_head(head: bytes, limits: H1Limits, valid_host: bytes) -> RequestHead | None:
    """A RequestHead for a complete head (CRLFCRLF included) this module can vouch for.

    `valid_host` is a Host value that already passed check_host on this connection.
    """
    scanned = scan_request(head, limits.max_target_bytes, limits.max_headers)
    if scanned is None:
        return None
    method, target, host, length, keep_alive, request_id, raw = scanned
    if method not in KNOWN_METHODS:
        return None
    if host != valid_host:
        try:
            check_host(host)  # also refuses trailing whitespace, which the general path trims
        except ProtocolError:
            return None
    if length < 0:
        content_length = None
    elif limits.max_body_bytes and length > limits.max_body_bytes:
        return None  # the general path answers 413
    else:
        content_length = length
    # (positional: keywords cost a third of the construction)
    return RequestHead(
        method, target, b"1.1", host, None, keep_alive, content_length, False,
        False, None, None, request_id, raw,
    )  # fmt: skip


def fast_response_head(head: bytes, limits: H1Limits) -> ResponseHead | None:
    """A ResponseHead for a complete 2xx-5xx HTTP/1.1 head this module can vouch for."""
    scanned = scan_response(head, limits.max_headers)
    return None if scanned is None else response_head(*scanned)


def response_head(
    status: int, reason: bytes, length: int, keep_alive: bool, raw: bytes
) -> ResponseHead:
    """The ResponseHead of a scanned response head (scan_response's tuple)."""
    return ResponseHead(
        status, reason, b"1.1", None, keep_alive, length if length >= 0 else None, False, raw
    )
