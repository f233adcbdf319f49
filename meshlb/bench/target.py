"""The URL under test, parsed and checked once."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}


class TargetError(ValueError):
    """The URL cannot be benchmarked; the message is one line for the user."""


@dataclass(frozen=True, slots=True)
class Target:
    scheme: str
    host: str  # without IPv6 brackets
    port: int
    path: str  # path plus query, never empty

    @property
    def tls(self) -> bool:
        return self.scheme == "https"

    @property
    def authority(self) -> str:
        """The Host header / :authority value: the port is left out when it is the default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        if self.port == _DEFAULT_PORTS[self.scheme]:
            return host
        return f"{host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.authority}{self.path}"


def parse_target(url: str) -> Target:
    if "://" not in url:
        raise TargetError(f"bad URL {url!r}: expected http://HOST[:PORT]/PATH or https://...")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetError(f"bad URL {url!r}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise TargetError(f"bad URL {url!r}: scheme must be http or https, not {scheme!r}")
    if not parts.hostname:
        raise TargetError(f"bad URL {url!r}: no host")
    if parts.username is not None or parts.password is not None:
        raise TargetError(f"bad URL {url!r}: credentials in the URL are not supported")
    if any(ch in url for ch in " \r\n\t"):
        raise TargetError(f"bad URL {url!r}: contains whitespace")
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return Target(scheme, parts.hostname, port or _DEFAULT_PORTS[scheme], path)
