"""The request every connection sends, built once before the run.

HTTP/1.1 gets one prebuilt byte string that is written as is for every request. HTTP/2 gets
the header list handed to h2 for every stream (RFC 9113 §8.3: pseudo-headers first, lowercase
names, no connection-specific fields).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from meshlb.bench.target import Target

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_USER_AGENT = "meshlb-bench"
# RFC 9113 §8.2.2: these must not appear in an HTTP/2 message.
_CONNECTION_SPECIFIC = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "host",
}


class RequestError(ValueError):
    """A method or header the user gave is not valid HTTP."""


@dataclass(frozen=True, slots=True)
class RequestSpec:
    method: str
    target: Target
    headers: tuple[tuple[str, str], ...]  # user headers, in order, as given
    body: bytes

    @property
    def is_head(self) -> bool:
        return self.method == "HEAD"


def parse_header(text: str) -> tuple[str, str]:
    """'Name: value' → (name, value)."""
    name, sep, value = text.partition(":")
    name, value = name.strip(), value.strip()
    if not sep or not _TOKEN.fullmatch(name):
        raise RequestError(f"bad header {text!r}: expected 'Name: value'")
    if any(ch in value for ch in "\r\n\0"):
        raise RequestError(f"bad header {text!r}: value contains a line break")
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        raise RequestError(f"bad header {text!r}: value must be Latin-1 text") from None
    return name, value


def check_method(method: str) -> str:
    if not _TOKEN.fullmatch(method):
        raise RequestError(f"bad method {method!r}")
    return method.upper()


def _needs_length(spec: RequestSpec) -> bool:
    return bool(spec.body) or spec.method in ("POST", "PUT", "PATCH")


def _given(spec: RequestSpec) -> set[str]:
    return {name.lower() for name, _ in spec.headers}


def h1_request_bytes(spec: RequestSpec) -> bytes:
    given = _given(spec)
    lines = [f"{spec.method} {spec.target.path} HTTP/1.1"]
    if "host" not in given:
        lines.append(f"Host: {spec.target.authority}")
    if "user-agent" not in given:
        lines.append(f"User-Agent: {_USER_AGENT}")
    lines.extend(
        f"{name}: {value}" for name, value in spec.headers if name.lower() != "content-length"
    )
    if _needs_length(spec):
        lines.append(f"Content-Length: {len(spec.body)}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head + spec.body


def h2_request_headers(spec: RequestSpec) -> list[tuple[bytes, bytes]]:
    authority = spec.target.authority
    for name, value in spec.headers:
        if name.lower() == "host":
            authority = value
    headers = [
        (b":method", spec.method.encode("latin-1")),
        (b":scheme", spec.target.scheme.encode("latin-1")),
        (b":authority", authority.encode("latin-1")),
        (b":path", spec.target.path.encode("latin-1")),
    ]
    given = _given(spec)
    if "user-agent" not in given:
        headers.append((b"user-agent", _USER_AGENT.encode("latin-1")))
    headers.extend(
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in spec.headers
        if name.lower() not in _CONNECTION_SPECIFIC and name.lower() != "content-length"
    )
    if _needs_length(spec):
        headers.append((b"content-length", str(len(spec.body)).encode("latin-1")))
    return headers
