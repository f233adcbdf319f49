"""Field-name tables and Connection options."""

from __future__ import annotations

import pytest

from meshlb.protocol.headers import (
    CONNECTION_OPTIONS,
    KIND,
    PLAIN,
    connection_tokens,
    named_fields,
)
from meshlb.protocol.validate import is_token


def test_plain_and_special_names_do_not_overlap() -> None:
    assert not PLAIN.keys() & KIND.keys()
    assert not set(PLAIN.values()) & {name.lower() for name in KIND}


def test_plain_names_map_every_spelling_to_a_lower_case_token() -> None:
    for spelling, lower in PLAIN.items():
        assert spelling.lower() == lower and is_token(spelling)
    assert PLAIN[b"User-Agent"] == PLAIN[b"user-agent"] == PLAIN[b"USER-AGENT"] == b"user-agent"


def test_every_proxy_field_name_is_left_to_the_prefix_rule() -> None:
    assert not [name for name in PLAIN if name.lower().startswith(b"proxy-")]


@pytest.mark.parametrize(
    ("value", "tokens"),
    [
        (b"keep-alive", {b"keep-alive"}),
        (b"Keep-Alive, Upgrade", {b"keep-alive", b"upgrade"}),
        (b"close,,  X-Foo ,", {b"close", b"x-foo"}),
        (b"", set()),
        (b"a b", None),
        (b"a;b", None),
        (b"close, Content-Length", None),
        (b"transfer-encoding", None),
        (b"Host", None),
    ],
)
def test_connection_tokens(value: bytes, tokens: set[bytes] | None) -> None:
    result = connection_tokens(value)
    assert (None if result is None else set(result)) == tokens


def test_named_fields_leave_out_the_connection_options() -> None:
    assert named_fields(frozenset({b"close", b"x-foo", b"upgrade"})) == {b"x-foo"}
    assert {b"close", b"keep-alive", b"upgrade"} == CONNECTION_OPTIONS
