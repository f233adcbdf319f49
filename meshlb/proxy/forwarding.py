"""Who a request came from, as meshlb tells its upstreams: X-Forwarded-*, X-Real-IP, Forwarded.

Theory of operation. Any client can send these fields, so a backend may believe them only
if every hop that wrote them is trusted. A listener's `trusted_proxies` names the peers
that are (the load balancer or TLS terminator in front of meshlb); whether a connection's
peer is one of them is decided once, when it connects.

    peer                 client's fields                      meshlb writes
    -------------------  -----------------------------------  --------------------------------
    not trusted          Forwarded, X-Real-IP, X-Forwarded-*  X-Forwarded-For: peer
    (the default)        are all removed                      X-Real-IP: peer
                                                              X-Forwarded-Host: Host
                                                              X-Forwarded-Proto: scheme
    trusted              kept as received                     X-Forwarded-For: theirs, peer
                                                              X-Real-IP, X-Forwarded-Host,
                                                              X-Forwarded-Proto: only where
                                                              absent; Forwarded: for=peer
                                                              appended where present

So what reaches a backend is either meshlb's own word or a chain that only trusted hops
wrote, and the right-most X-Forwarded-For entry is always the peer meshlb saw. meshlb does not
start a `Forwarded` field of its own (RFC 7239): X-Forwarded-* is what backends read.

The codec keeps every head that carries one of these fields off the verbatim paths
(fastpath.py, heads.py), so a head forwarded as received never has one.
"""

from __future__ import annotations

import ipaddress
from typing import Final

from meshlb.protocol.messages import Headers

# Fields only meshlb may write for an untrusted peer, besides every X-Forwarded-* name.
_CLIENT_FORWARDING: Final = frozenset((b"forwarded", b"x-real-ip"))
# Written by meshlb for a trusted peer only if the peer did not send them.
_IF_ABSENT: Final = frozenset((b"x-real-ip", b"x-forwarded-host", b"x-forwarded-proto"))

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxies:
    """The peers whose forwarding fields are believed: addresses and CIDR networks."""

    __slots__ = ("networks",)

    def __init__(self, networks: list[str]) -> None:
        self.networks: tuple[Network, ...] = tuple(ipaddress.ip_network(n) for n in networks)

    def trusts(self, address: str) -> bool:
        """Whether a peer address (as the socket gives it) is a trusted proxy."""
        if not self.networks:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped  # a dual-stack socket's view of an IPv4 peer
        return any(ip in network for network in self.networks)

    def __repr__(self) -> str:
        return f"<TrustedProxies {', '.join(map(str, self.networks)) or 'none'}>"


def peer_fields(peer: bytes) -> bytes:
    """X-Forwarded-For and X-Real-IP naming only the peer: prepared once per connection."""
    return b"x-forwarded-for: %s\r\nx-real-ip: %s\r\n" % (peer, peer)


def without_forwarding(headers: Headers) -> Headers:
    """A client's fields less every forwarding field (for an untrusted peer)."""
    return [
        field
        for field in headers
        if field[0] not in _CLIENT_FORWARDING and field[0][:12] != b"x-forwarded-"
    ]


def extended_chain(
    headers: Headers, forwarded_for: bytes | None, peer: bytes, host: bytes, proto_field: bytes
) -> bytes:
    """The lines meshlb adds to a trusted peer's request, whose `headers` are kept."""
    sent = {field[0] for field in headers if field[0] in _IF_ABSENT or field[0] == b"forwarded"}
    lines = b"x-forwarded-for: %s\r\n" % (forwarded_for + b", " + peer if forwarded_for else peer)
    if b"x-real-ip" not in sent:
        lines += b"x-real-ip: %s\r\n" % peer
    if b"x-forwarded-host" not in sent:
        lines += b"x-forwarded-host: %s\r\n" % host
    if b"x-forwarded-proto" not in sent:
        lines += proto_field
    if b"forwarded" in sent:
        # RFC 7239 §4: a proxy may add its element as another field line (one list).
        lines += b"forwarded: for=%s\r\n" % forwarded_node(peer)
    return lines


def forwarded_node(peer: bytes) -> bytes:
    """An address as a Forwarded `node` (RFC 7239 §6): IPv6 bracketed and quoted."""
    return b'"[%s]"' % peer if b":" in peer else peer
