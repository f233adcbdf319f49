"""Forwarding fields: whom meshlb believes, and what it writes for the others."""

from __future__ import annotations

import pytest

from meshlb.proxy.forwarding import (
    TrustedProxies,
    extended_chain,
    forwarded_node,
    peer_fields,
    without_forwarding,
)

PROTO = b"x-forwarded-proto: http\r\n"


@pytest.mark.parametrize(
    ("address", "trusted"),
    [
        ("10.1.2.3", True),
        ("127.0.0.1", True),
        ("127.0.0.2", False),
        ("::ffff:10.0.0.9", True),  # an IPv4 peer on a dual-stack socket
        ("fd00::1", True),
        ("fe80::1", False),
        ("11.0.0.1", False),
        ("-", False),
    ],
)
def test_trusted_proxies_match_addresses_and_networks(address: str, trusted: bool) -> None:
    proxies = TrustedProxies(["10.0.0.0/8", "127.0.0.1", "fd00::/8"])
    assert proxies.trusts(address) is trusted


def test_with_no_trusted_proxies_nobody_is_trusted() -> None:
    proxies = TrustedProxies([])
    assert not proxies.trusts("127.0.0.1")
    assert repr(proxies) == "<TrustedProxies none>"


def test_an_untrusted_peer_loses_every_forwarding_field_and_keeps_the_rest() -> None:
    headers = [
        (b"accept", b"*/*"),
        (b"forwarded", b"for=1.2.3.4"),
        (b"x-real-ip", b"1.2.3.4"),
        (b"x-forwarded-host", b"bank.example"),
        (b"x-forwarded-proto", b"https"),
        (b"x-forwarded-port", b"443"),
        (b"x-forwarded", b"not one of them"),
        (b"x-request-id", b"r1"),
    ]
    assert without_forwarding(headers) == [
        (b"accept", b"*/*"),
        (b"x-forwarded", b"not one of them"),
        (b"x-request-id", b"r1"),
    ]


def test_peer_fields_name_the_peer_twice() -> None:
    assert peer_fields(b"192.0.2.1") == b"x-forwarded-for: 192.0.2.1\r\nx-real-ip: 192.0.2.1\r\n"


def test_a_trusted_chain_is_extended_and_its_fields_kept() -> None:
    headers = [
        (b"x-real-ip", b"203.0.113.9"),
        (b"x-forwarded-host", b"shop.example"),
        (b"x-forwarded-proto", b"https"),
        (b"forwarded", b"for=203.0.113.9"),
    ]
    lines = extended_chain(headers, b"203.0.113.9", b"10.0.0.2", b"app.test", PROTO)
    assert lines == b"x-forwarded-for: 203.0.113.9, 10.0.0.2\r\nforwarded: for=10.0.0.2\r\n"


def test_a_trusted_peer_without_a_chain_gets_what_anyone_gets() -> None:
    lines = extended_chain([], None, b"10.0.0.2", b"app.test", PROTO)
    assert lines == (
        b"x-forwarded-for: 10.0.0.2\r\nx-real-ip: 10.0.0.2\r\n"
        b"x-forwarded-host: app.test\r\nx-forwarded-proto: http\r\n"
    )


def test_forwarded_nodes_quote_ipv6() -> None:
    # RFC 7239 §6: an IPv6 address is bracketed, and a quoted-string then.
    assert forwarded_node(b"192.0.2.1") == b"192.0.2.1"
    assert forwarded_node(b"2001:db8::1") == b'"[2001:db8::1]"'
