"""Recognizers for the heads nearly every exchange carries, checked in a few C calls.

Most requests are `GET /path HTTP/1.1` with a Host and a handful of ordinary fields, and
most responses are `HTTP/1.1 200 OK` with a Content-Length. For those, the general codec's
per-field work (a Python call per field line, classification, the message rules) is pure
overhead: nothing in them needs a decision. A recognizer accepts only heads that are
unambiguous under every rule of validate.py, and returns None for anything else, which then
takes the general path. So it may refuse a valid head (it only costs speed), but it must
never accept a head the general path would reject, or read one differently; the
differential tests in tests/protocol/test_fastpath.py hold it to that.

What "unambiguous" means here:

- The whole head matches one regular expression: a known method, an origin-form target of
  visible ASCII without "#", HTTP/1.1, and field lines that are `token ":" value` with
  values of visible ASCII, space and tab only (so no CR, LF, CTL, obs-fold or obs-text:
  S1-S4 and S5 hold by construction).
- No value ends in whitespace (the general path trims it, and then may not forward the line
  verbatim).
- No field the proxy must act on appears, apart from Host and Content-Length in a request
  and Content-Length and a plain Connection in a response; those appear once, with
  canonical values (M1, M4). Any other special field (Transfer-Encoding, Upgrade, Expect,
  hop-by-hop fields, X-Forwarded-*, X-Request-Id, Proxy-*) sends the head the general way.

The heads returned carry their field lines verbatim in `raw`; their `headers` list is built
from `raw` only if somebody asks for it (messages.py).
"""

from __future__ import annotations

import re
from typing import Final

from .messages import H1Limits, RequestHead, ResponseHead
from .validate import KNOWN_METHODS, ProtocolError, check_host

_NAME: Final = rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+:"
_VALUE: Final = rb"[\x20-\x7e\t]*\r\n"
_REQUEST: Final = re.compile(
    rb"([A-Z]+) (/[\x21\x22\x24-\x7e]*) HTTP/1\.1\r\n(?:" + _NAME + _VALUE + rb")*\r\n"
)
_RESPONSE: Final = re.compile(
    rb"HTTP/1\.1 ([2-5][0-9][0-9]) ([\x20-\x7e\t]*)\r\n(?:" + _NAME + _VALUE + rb")*\r\n"
)

# Every field that needs a decision, found in one pass over the lower-cased head, with its
# value (from the first non-blank byte to the end of the line, trailing whitespace kept).
# A name listed here is acted on or refused; any other name is forwarded as received.
_SPECIAL: Final = re.compile(
    rb"\n(host|content-length|connection|transfer-encoding|upgrade|keep-alive|te|trailer"
    rb"|expect|x-request-id|x-forwarded-for|proxy-[^:]*):[ \t]*([^\r]*)"
)

# Status codes as sent, to their int, for the codes the response pattern admits.
_STATUS: Final = {b"%d" % code: code for code in range(200, 600)}


def _length(value: bytes) -> int | None:
    """A canonical Content-Length (M1: digits only, no leading zero, at most 18), or None."""
    if value.isdigit() and len(value) <= 18 and (value[0] != 0x30 or len(value) == 1):
        return int(value)
    return None


def fast_request_head(head: bytes, limits: H1Limits, valid_host: bytes) -> RequestHead | None:
    """A RequestHead for a complete head (CRLFCRLF included) this module can vouch for.

    `valid_host` is a Host value that already passed check_host on this connection.
    """
    match = _REQUEST.fullmatch(head)
    if match is None:
        return None
    method, target = match.group(1, 2)
    if method not in KNOWN_METHODS or len(target) > limits.max_target_bytes:
        return None
    lower = head.lower()
    if lower.find(b"forwarded-") >= 0:  # X-Forwarded-*: meshlb writes them itself
        return None
    host = None
    length = None
    for field in _SPECIAL.finditer(lower):
        name = field.group(1)
        if name == b"host" and host is None:
            start, end = field.span(2)
            host = head[start:end]
        elif name == b"content-length" and length is None:
            length = _length(field.group(2))
            if length is None:
                return None
        else:
            return None
    if host is None or (
        len(head) > 4 * limits.max_headers and head.count(b"\n") - 2 > limits.max_headers
    ):
        return None
    if host != valid_host:
        try:
            check_host(host)  # also refuses trailing whitespace, which the general path trims
        except ProtocolError:
            return None
    if length and limits.max_body_bytes and length > limits.max_body_bytes:
        return None
    return RequestHead(
        method,
        target,
        b"1.1",
        host,
        None,
        True,
        length,
        False,
        raw=head[match.end(2) + 11 : -2],  # after " HTTP/1.1\r\n"
    )


def fast_response_head(head: bytes, limits: H1Limits) -> ResponseHead | None:
    """A ResponseHead for a complete 2xx-5xx HTTP/1.1 head this module can vouch for."""
    match = _RESPONSE.fullmatch(head)
    if match is None:
        return None
    lower = head.lower()
    length = None
    keep_alive = True
    cut = None  # the span of the Connection line, which is hop-by-hop (RFC 9110 §7.6.1)
    for field in _SPECIAL.finditer(lower):
        name = field.group(1)
        if name == b"content-length" and length is None:
            length = _length(field.group(2))
            if length is None:
                return None
        elif name == b"connection" and cut is None:
            option = field.group(2).rstrip(b" \t")
            if option == b"close":
                keep_alive = False
            elif option != b"keep-alive":
                return None
            cut = field.start() + 1, field.end() + 2
        else:
            return None
    if len(head) > 4 * limits.max_headers and head.count(b"\n") - 2 > limits.max_headers:
        return None
    status = _STATUS[match.group(1)]
    if (status == 204 or status == 304) and length is not None:
        return None  # RFC 9110 §8.6: the general path decides what such a field means
    line_end = match.end(2) + 2
    raw = head[line_end:-2] if cut is None else head[line_end : cut[0]] + head[cut[1] : -2]
    return ResponseHead(
        status,
        match.group(2),
        b"1.1",
        None,
        keep_alive,
        length,
        False,
        raw,
    )
