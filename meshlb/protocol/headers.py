"""Field-name tables: which fields the codec consumes, drops, or passes through.

RFC 9110 §7.6.1: a proxy removes Connection, every field Connection names, and the fields
that are hop-by-hop by definition (Keep-Alive, Proxy-Connection, TE, Trailer,
Transfer-Encoding, Upgrade). meshlb also drops every `Proxy-*` field, which is meant for the
proxy itself (Proxy-Authorization, Proxy-Authenticate, the Proxy-Connection relic), and
consumes Host, Content-Length and X-Forwarded-For into head fields because the proxy writes
them itself.

The hot path looks a received name up in PLAIN first: the lower-case form of common
end-to-end names, in the spellings clients actually send. A hit costs one dict lookup and
skips lowering and classification; a miss is lowered and classified with KIND.
"""

from __future__ import annotations

from typing import Final

from .validate import is_token

# Kinds of special fields (values of KIND); they double as indexes into a builder's
# per-message list of what it saw (heads.py), which is why they are small and dense.
HOST: Final = 1
CONTENT_LENGTH: Final = 2
TRANSFER_ENCODING: Final = 3
CONNECTION: Final = 4
UPGRADE: Final = 5
HOP_BY_HOP: Final = 6  # dropped: proxy-connection, te, trailer (and proxy-*)
FORWARDED_FOR: Final = 7
REQUEST_ID: Final = 8
EXPECT: Final = 9
KEEP_ALIVE: Final = 12  # dropped too; a response's timeout= parameter is kept (heads.py)

_SPECIAL: Final = {
    b"host": HOST,
    b"content-length": CONTENT_LENGTH,
    b"transfer-encoding": TRANSFER_ENCODING,
    b"connection": CONNECTION,
    b"upgrade": UPGRADE,
    b"keep-alive": KEEP_ALIVE,
    b"proxy-connection": HOP_BY_HOP,
    b"te": HOP_BY_HOP,
    b"trailer": HOP_BY_HOP,
    b"x-forwarded-for": FORWARDED_FOR,
    b"x-request-id": REQUEST_ID,
    b"expect": EXPECT,
}


def _spellings(name: bytes) -> set[bytes]:
    title = b"-".join(part.capitalize() for part in name.split(b"-"))
    return {name, name.lower(), name.upper(), title}


# Lower-case names and the usual spellings of each, so that the common ones skip lower().
KIND: Final[dict[bytes, int]] = {
    spelling: kind for name, kind in _SPECIAL.items() for spelling in _spellings(name)
}

_COMMON_END_TO_END = (
    b"Accept Accept-Charset Accept-Encoding Accept-Language Accept-Ranges Age Allow "
    b"Authorization Cache-Control Content-Disposition Content-Encoding Content-Language "
    b"Content-Location Content-Range Content-Type Cookie Date DNT ETag Expires Forwarded "
    b"From If-Match If-Modified-Since If-None-Match If-Range If-Unmodified-Since "
    b"Last-Modified Link Location Origin Pragma Range Referer Retry-After Server Set-Cookie "
    b"Strict-Transport-Security Traceparent Tracestate Upgrade-Insecure-Requests User-Agent "
    b"Vary Via WWW-Authenticate X-Content-Type-Options X-Forwarded-Host X-Forwarded-Proto "
    b"X-Frame-Options X-Real-IP X-Requested-With Sec-Fetch-Dest Sec-Fetch-Mode "
    b"Sec-Fetch-Site Sec-Fetch-User Sec-Ch-Ua Sec-Ch-Ua-Mobile Sec-Ch-Ua-Platform "
    b"Sec-WebSocket-Key Sec-WebSocket-Version Sec-WebSocket-Accept Sec-WebSocket-Protocol "
    b"Sec-WebSocket-Extensions"
).split()


PLAIN: Final[dict[bytes, bytes]] = {
    spelling: name.lower() for name in _COMMON_END_TO_END for spelling in _spellings(name)
}

# Connection options that are not field names. RFC 9110 §7.6.1 says a Connection option
# names a field to remove; these three are the exceptions every implementation knows.
CONNECTION_OPTIONS: Final = frozenset((b"close", b"keep-alive", b"upgrade"))
# M7: removing one of these "as hop-by-hop" would change how the message is framed.
_NOT_HOP_BY_HOP: Final = frozenset((b"host", b"content-length", b"transfer-encoding"))

COMMON_CONNECTION: Final[dict[bytes, frozenset[bytes]]] = {
    value: frozenset(t.strip().lower() for t in value.split(b","))
    for value in (
        b"keep-alive",
        b"Keep-Alive",
        b"close",
        b"Close",
        b"upgrade",
        b"Upgrade",
        b"keep-alive, Upgrade",
        b"Keep-Alive, Upgrade",
        b"keep-alive, upgrade",
    )
}


def connection_tokens(value: bytes) -> frozenset[bytes] | None:
    """The lower-cased options of one Connection field line (RFC 9110 §7.6.1).

    None if an option is not a token, or names a field that frames the message (M7).
    """
    tokens = COMMON_CONNECTION.get(value)
    if tokens is not None:
        return tokens
    found = set()
    for item in value.split(b","):
        token = item.strip(b" \t").lower()
        if not token:
            continue  # empty list elements are allowed (RFC 9110 §5.6.1)
        if not is_token(token) or token in _NOT_HOP_BY_HOP:
            return None
        found.add(token)
    return frozenset(found)


def named_fields(tokens: frozenset[bytes]) -> frozenset[bytes]:
    """The field names that Connection options ask us to remove."""
    return tokens - CONNECTION_OPTIONS
