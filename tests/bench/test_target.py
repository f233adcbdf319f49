"""Parsing the URL under test."""

from __future__ import annotations

import pytest

from meshlb.bench.target import Target, TargetError, parse_target


def test_defaults_fill_in_port_and_path() -> None:
    assert parse_target("http://example.test") == Target("http", "example.test", 80, "/")
    assert parse_target("https://example.test").port == 443


def test_query_strings_are_kept_with_the_path() -> None:
    target = parse_target("http://127.0.0.1:8080/api/v1?x=1&y=2")
    assert (target.port, target.path) == (8080, "/api/v1?x=1&y=2")


def test_authority_leaves_out_a_default_port_and_brackets_ipv6() -> None:
    assert parse_target("https://h.test:443/").authority == "h.test"
    assert parse_target("http://h.test:81/").authority == "h.test:81"
    target = parse_target("http://[::1]:9000/x")
    assert (target.host, target.authority, target.url) == (
        "::1",
        "[::1]:9000",
        "http://[::1]:9000/x",
    )


def test_tls_follows_the_scheme() -> None:
    assert parse_target("https://h.test/").tls
    assert not parse_target("http://h.test/").tls


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("127.0.0.1:8080", "expected http://"),
        ("ftp://h.test/", "scheme must be http or https"),
        ("http:///path", "no host"),
        ("http://h.test:99999/", "out of range"),
        ("http://user:pw@h.test/", "credentials"),
        ("http://h.test/a b", "whitespace"),
    ],
)
def test_bad_urls_say_what_is_wrong(url: str, message: str) -> None:
    with pytest.raises(TargetError, match=message):
        parse_target(url)
