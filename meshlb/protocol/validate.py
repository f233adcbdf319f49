"""The strictness rules shared by both HTTP/1.1 codecs.

Theory of operation
-------------------
A proxy is only as strict as the laxest parser on the path, and request smuggling lives in
the gap between two parsers that frame the same bytes differently (PortSwigger's CL.TE, TE.CL
and TE.TE families; the HTTP Garden's differential findings). So meshlb does not inherit
strictness from whichever parser happens to be plugged in: this module is the one statement
of what a message head may look like, and both codecs (llhttp through httptools, and h11)
answer to it with the same status codes. Bodies are framed by our own decoders (body.py), so
chunk rules cannot differ either.

Every head reaches a codec whole: the reader (reader.py) finds the terminating CRLFCRLF and
checks the size limit before any parser sees a byte. The rules come in two classes.

Syntax rules (S) are about the bytes of the head:

S1  Lines end in CRLF; a bare CR or a bare LF anywhere is rejected (RFC 9112 §2.2 lets a
    recipient accept bare LF; we do not, so that no peer can frame a line we did not).
S2  No obs-fold and no whitespace at the start of a field line (RFC 9112 §5.2 allows a
    server to reject; §2.2 says whitespace before the first field must be rejected).
S3  No control characters (NUL, VT, FF, DEL, ...) anywhere in the head (RFC 9110 §5.5).
S4  Field names are tokens, immediately followed by ":" (RFC 9112 §5.1, RFC 9110 §5.1);
    `Host : a` is rejected with 400 as the RFC requires.
S5  request-line = method SP request-target SP HTTP-version, single spaces, nothing else
    (RFC 9112 §3); the method is a token, the target is visible ASCII.

S rules are enforced on raw bytes by `check_head_bytes` + `split_fields` wherever a codec
hands us raw bytes (the h11 codec, and every partial head). llhttp enforces S1-S4 itself in
its default strict mode, in C, before we see a field, so the llhttp hot path does not pay for
a second pass; S5 is checked here for both codecs because llhttp accepts `GET  / HTTP/1.1`
and `GET /` (HTTP/0.9). The battery in tests/protocol pins llhttp's behaviour so that an
httptools upgrade that relaxes it fails the build.

Message rules (M) are about meaning, and always run here, for both codecs (heads.py):

M1  Content-Length is 1*DIGIT, at most 18 digits, one field line, one value: `5, 5`,
    duplicates (even equal), signs, spaces and overflow are rejected (RFC 9112 §6.3 item 5
    allows merging equal duplicates; a proxy that merges talks past one that does not).
M2  Transfer-Encoding, if present, is exactly one field line whose value is `chunked`
    (case-insensitive, RFC 9112 §7), with nothing after it, not even the OWS a field value
    may end with (llhttp refuses that too, and some servers do not trim it). RFC 9112 §6.1
    allows codings such as `gzip, chunked`, but almost every TE.TE smuggling variant is a
    coding list that one hop reads as chunked and the next does not, and no real client
    sends one; anything else is a 400.
M3  Transfer-Encoding with Content-Length is rejected (RFC 9112 §6.1: "ought to be handled
    as an error"); Transfer-Encoding in HTTP/1.0 is rejected (RFC 9112 §6.1).
M4  HTTP/1.1 requires exactly one Host; HTTP/1.0 allows none; a repeated or malformed Host
    is a 400 (RFC 9112 §3.2). Host is uri-host [":" port] with no userinfo (RFC 9110 §7.2).
M5  The target is origin-form, `*` for OPTIONS only, or absolute-form http(s) which is
    turned into origin-form; an authority that differs from Host is rejected or replaces it
    (H1Limits.absolute_form, RFC 9112 §3.2.2). Fragments are not part of a request-target.
M6  Versions: HTTP/1.1 and HTTP/1.0 only; other well-formed versions get 505 (RFC 9110
    §15.6.6). Methods outside a known set get 501 (RFC 9110 §9.1); CONNECT too, since the
    heads carry origin-form targets only.
M7  Connection may not name Host, Content-Length or Transfer-Encoding (deleting them as
    hop-by-hop would re-frame the message: the "hop-by-hop header abuse" attack).
M8  Expect other than 100-continue gets 417 (RFC 9110 §10.1.1). An Upgrade request with a
    body is rejected: after it, the bytes on the connection belong to another protocol.
M9  Limits (H1Limits): head bytes and field count -> 431 (RFC 6585 §5), target -> 414,
    body -> 413 at the head for Content-Length, as soon as a chunk size passes it otherwise.

Chunked bodies follow RFC 9112 §7.1 with no leniency: 1-16 hex digits (a 64-bit value),
no whitespace (the BWS the grammar tolerates is where parsers disagree), extensions are
`;token[=token|quoted-string]` up to MAX_CHUNK_EXT_BYTES per message, data ends in CRLF,
and trailer fields obey S1-S4 and are dropped. Every chunk line ends in CRLF: a bare LF or
CR is refused as soon as it arrives (body.py), not when a CRLF finally comes.
"""

from __future__ import annotations

from typing import Final

from .messages import H1Limits


class ProtocolError(Exception):
    """A message breaks a rule: answer `status` (requests) or fail the exchange (responses)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason

    def __repr__(self) -> str:
        return f"ProtocolError({self.status}, {self.reason!r})"


MAX_CHUNK_EXT_BYTES: Final = 4096  # all chunk extensions of one message together

# -- character classes ------------------------------------------------------------------------
# A class is a translate() table that maps members to b"a" and everything else to 0x80, so
# `data.translate(T).isascii()` tests membership of every byte with two C calls and no regex.


def _class_table(members: bytes) -> bytes:
    return bytes(0x61 if b in members else 0x80 for b in range(256))


_ALPHA_DIGIT = bytes(range(0x30, 0x3A)) + bytes(range(0x41, 0x5B)) + bytes(range(0x61, 0x7B))
TCHAR: Final = _ALPHA_DIGIT + b"!#$%&'*+-.^_`|~"
_CTL_FREE = bytes(b for b in range(256) if b in (0x09, 0x0A, 0x0D) or 0x20 <= b != 0x7F)
_HOST_CHARS = _ALPHA_DIGIT + b"-._~%!$&'()*+,;="
_HEX = b"0123456789abcdefABCDEF"
# qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text; a quoted-pair also allows DQUOTE, "\\"
_QPAIR_SET = frozenset(b for b in range(256) if b in (0x09, 0x20) or 0x21 <= b != 0x7F)
_QDTEXT_SET = _QPAIR_SET - {0x22, 0x5C}
_TCHAR_SET = frozenset(TCHAR)

_TOKEN_T = _class_table(TCHAR)
_CTL_FREE_T = _class_table(_CTL_FREE)
_VISIBLE_T = _class_table(bytes(b for b in _CTL_FREE if b not in b"\r\n"))
VCHAR = _class_table(bytes(range(0x21, 0x7F)))  # request-target bytes
_HOST_T = bytes(b if b in b":[]" else 0x61 if b in _HOST_CHARS else 0x80 for b in range(256))
_HEX_T = _class_table(_HEX)


def is_token(data: bytes) -> bool:
    return bool(data) and data.translate(_TOKEN_T).isascii()


# -- start lines (S5, M6) ---------------------------------------------------------------------

KNOWN_METHODS: Final = frozenset(
    b"GET HEAD POST PUT DELETE OPTIONS TRACE PATCH PURGE QUERY "
    b"PROPFIND PROPPATCH MKCOL COPY MOVE LOCK UNLOCK SEARCH REPORT MKCALENDAR MKACTIVITY "
    b"CHECKOUT MERGE ACL BIND REBIND UNBIND LINK UNLINK".split()
)
VERSIONS: Final = {b"HTTP/1.1": b"1.1", b"HTTP/1.0": b"1.0"}


def _version(raw: bytes) -> bytes:
    version = VERSIONS.get(raw)
    if version is not None:
        return version
    if len(raw) == 8 and raw[:5] == b"HTTP/" and raw[6] == 0x2E and raw[5:8:2].isdigit():
        raise ProtocolError(505, "HTTP version not supported")
    raise ProtocolError(400, "malformed HTTP version")


def parse_request_line(line: bytes, limits: H1Limits) -> tuple[bytes, bytes, bytes]:
    """`GET /x HTTP/1.1` -> (b"GET", b"/x", b"1.1"); the target form is checked by heads.py."""
    parts = line.split(b" ")
    if len(parts) == 3:
        method, target, version = parts
        version = VERSIONS.get(version, b"")
        if (
            version
            and method in KNOWN_METHODS
            and target
            and len(target) <= limits.max_target_bytes
            and target.translate(VCHAR).isascii()
        ):
            return method, target, version
    raise _request_line_error(parts, limits)


def _request_line_error(parts: list[bytes], limits: H1Limits) -> ProtocolError:
    if not b" ".join(parts).translate(_VISIBLE_T).isascii():
        # Before any finer diagnosis: a CR, LF or control byte here is a framing fault (S1,
        # S3), whatever else is wrong with the line; a partial head is judged the same way.
        return ProtocolError(400, "control character in request line")
    if len(parts) != 3 or not parts[1]:
        return ProtocolError(400, "malformed request line")
    method, target, version = parts
    try:
        _version(version)
    except ProtocolError as exc:
        return exc
    if method not in KNOWN_METHODS:
        if not is_token(method):
            return ProtocolError(400, "invalid method")
        return ProtocolError(501, "method not implemented")
    if len(target) > limits.max_target_bytes:
        return ProtocolError(414, "request target too long")
    return ProtocolError(400, "request target is not visible ASCII")


def parse_status_line(line: bytes) -> tuple[bytes, int, bytes]:
    """`HTTP/1.1 200 OK` -> (b"1.1", 200, b"OK"). A missing reason phrase is tolerated."""
    version = VERSIONS.get(line[:8])
    code = line[9:12]
    if (
        version is not None
        and line[8:9] == b" "
        and line[12:13] in (b" ", b"")
        and code.isdigit()
        and line.translate(_VISIBLE_T).isascii()
    ):
        status = int(code)
        if 100 <= status <= 599:
            return version, status, line[13:]
    if not line.translate(_VISIBLE_T).isascii():
        raise ProtocolError(502, "control character in status line")
    parts = line.split(b" ", 2)
    if len(parts) < 2 or len(parts[1]) != 3 or not parts[1].isdigit():
        raise ProtocolError(502, "malformed status line")
    if not 100 <= int(parts[1]) <= 599:
        raise ProtocolError(502, "status code out of range")
    try:
        _version(parts[0])
    except ProtocolError as exc:
        raise ProtocolError(502, exc.reason) from None
    raise ProtocolError(502, "malformed status line")


# -- field values (M1, M2, M4) ----------------------------------------------------------------


def parse_content_length(value: bytes) -> int:
    """The length, or -1 if `value` is not 1-18 ASCII digits (M1)."""
    # bytes.isdigit() is ASCII-only: it refuses "+5", "-1", "5 5", "5,5", "0x5" and "".
    if value.isdigit() and len(value) <= 18:
        return int(value)
    return -1


def check_transfer_encoding(value: bytes) -> bool:
    """Whether `value`, trailing whitespace included, is exactly `chunked` (M2)."""
    return value == b"chunked" or value.lower() == b"chunked"


def check_host(value: bytes) -> None:
    """uri-host [":" port] (RFC 9110 §7.2; RFC 3986 §3.2.2), no userinfo, path or space."""
    # Fast path: reg-name characters map to letters, ":" "[" "]" to themselves, anything
    # else to 0x80; a plain name is then all letters.
    mapped = value.translate(_HOST_T)
    if mapped.isalpha() or not value:
        return
    if not mapped.isascii():
        raise ProtocolError(400, "invalid Host")
    if value[:1] == b"[":
        close = value.find(b"]")
        if close < 0 or b"[" in value[1:] or b"]" in value[close + 1 :]:
            raise ProtocolError(400, "invalid Host")
        port = value[close + 1 :]
        if port and (port[:1] != b":" or not (port[1:].isdigit() or port == b":")):
            raise ProtocolError(400, "invalid Host port")
        return
    if b"[" in value or b"]" in value or value.count(b":") > 1:
        raise ProtocolError(400, "invalid Host")
    port = value.rpartition(b":")[2]
    if port and not port.isdigit():
        raise ProtocolError(400, "invalid Host port")


# -- raw head bytes (S1-S4) -------------------------------------------------------------------


def check_head_bytes(buf: bytes | bytearray, start: int, complete: bool) -> None:
    """S1-S3 over buf[start:], where buf[:start] was checked before (incremental use).

    `start` is moved back so that pairs and folds spanning the boundary are seen; with
    complete=False a trailing CR may still get its LF.
    """
    if start > 2:
        start -= 2
        if buf[start] == 0x0A:
            start -= 1
        window = buf[start:]
    else:
        window = buf
    if not window.translate(_CTL_FREE_T).isascii():
        raise ProtocolError(400, "control character in head")
    pairs = window.count(b"\r\n")
    crs = window.count(b"\r")
    if not complete and window[-1:] == b"\r":
        crs -= 1
    if crs != pairs or window.count(b"\n") != pairs:
        raise ProtocolError(400, "bare CR or LF in head")
    if b"\r\n " in window or b"\r\n\t" in window:
        raise ProtocolError(400, "obsolete line folding or whitespace before a field")


def split_fields(head: bytes) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """Split a complete head that passed check_head_bytes into its start line and fields.

    Values lose their leading OWS and keep any trailing OWS, as llhttp delivers them (the
    head builder trims the rest); names are checked as tokens (S4).
    """
    lines = head.split(b"\r\n")
    # A complete head ends in CRLFCRLF: the split leaves two empty strings at the end.
    fields: list[tuple[bytes, bytes]] = []
    for line in lines[1:-2]:
        name, colon, value = line.partition(b":")
        if not colon or not is_token(name):
            raise ProtocolError(400, "invalid field name")
        fields.append((name, value.lstrip(b" \t")))
    return lines[0], fields


def check_field_line(line: bytes) -> None:
    """S1-S4 for one field line without its CRLF (chunked trailers)."""
    if not line.translate(_CTL_FREE_T).isascii() or b"\r" in line or b"\n" in line:
        raise ProtocolError(400, "control character in trailer field")
    name, colon, _ = line.partition(b":")
    if not colon or not is_token(name):
        raise ProtocolError(400, "invalid trailer field name")


# -- chunk lines ------------------------------------------------------------------------------


def parse_chunk_size(line: bytes) -> tuple[int, int]:
    """`1a;ext=v` -> (26, len(extensions)). No whitespace anywhere (see module docstring)."""
    semi = line.find(b";")
    digits = line if semi < 0 else line[:semi]
    if not digits or len(digits) > 16 or not digits.translate(_HEX_T).isascii():
        raise ProtocolError(400, "invalid chunk size")
    if semi < 0:
        return int(digits, 16), 0
    _check_chunk_extensions(line[semi:])
    return int(digits, 16), len(line) - semi


def _check_chunk_extensions(ext: bytes) -> None:
    # ext = *( ";" token [ "=" ( token / quoted-string ) ] )   (RFC 9112 §7.1.1, no BWS)
    pos, end = 0, len(ext)
    while pos < end:
        if ext[pos] != 0x3B:  # ";"
            raise ProtocolError(400, "invalid chunk extension")
        stop = _token_end(ext, pos + 1)
        if stop == pos + 1:
            raise ProtocolError(400, "invalid chunk extension name")
        pos = stop
        if pos < end and ext[pos] == 0x3D:  # "="
            pos += 1
            if pos < end and ext[pos] == 0x22:  # '"'
                pos = _quoted_end(ext, pos)
            else:
                stop = _token_end(ext, pos)
                if stop == pos:
                    raise ProtocolError(400, "invalid chunk extension value")
                pos = stop


def _token_end(data: bytes, pos: int) -> int:
    end = pos
    while end < len(data) and data[end] in _TCHAR_SET:
        end += 1
    return end


def _quoted_end(data: bytes, pos: int) -> int:
    # quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE   (RFC 9110 §5.6.4)
    pos += 1
    while pos < len(data):
        byte = data[pos]
        if byte == 0x22:
            return pos + 1
        if byte == 0x5C:
            pos += 1
            if pos >= len(data) or data[pos] not in _QPAIR_SET:
                raise ProtocolError(400, "invalid quoted-pair in chunk extension")
        elif byte not in _QDTEXT_SET:
            raise ProtocolError(400, "invalid character in chunk extension")
        pos += 1
    raise ProtocolError(400, "unterminated quoted string in chunk extension")
