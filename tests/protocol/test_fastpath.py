"""Differential test: the fast-path recognizers (fastpath.py) against the general path.

A recognizer may refuse any head (it then takes the general path), but a head it accepts
must be accepted by the general path (heads.parse_request_head / parse_response_head) and
read the same way: the same start line, framing, connection handling and field list, and
the same verbatim field lines wherever the general path forwards them verbatim too.

Heads are drawn from a grammar that mixes the common shapes with the tricky pieces the
general path has rules for (special fields, bad values, whitespace, control bytes, obs-text,
obs-fold, bad line ends), so that both acceptances and near misses are frequent. Explicit
examples pin that the common heads are in fact accepted, and that the battery's malformed
heads are all refused.

Every head is recognized with each scanner fastpath.py has (the C extension when it was
built, and the pure-Python reference), which must return the same tuples.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from meshlb.protocol import fastpath
from meshlb.protocol.fastpath import fast_request_head, fast_response_head
from meshlb.protocol.heads import (
    RequestHeadBuilder,
    ResponseHeadBuilder,
    parse_request_head,
    parse_response_head,
)
from meshlb.protocol.messages import H1Limits, RequestHead, ResponseHead
from meshlb.protocol.validate import ProtocolError

from .battery import LIMITS as BATTERY_LIMITS
from .battery import Bad, malformed, valid

DEFAULT = H1Limits()
# Tight enough that generated heads often sit on either side of every limit.
TIGHT = H1Limits(max_headers=3, max_target_bytes=12, max_body_bytes=100)

REQUEST_FIELDS = (
    "method",
    "target",
    "version",
    "host",
    "keep_alive",
    "content_length",
    "chunked",
    "expect_continue",
    "upgrade",
    "forwarded_for",
    "request_id",
)
RESPONSE_FIELDS = ("status", "reason", "version", "keep_alive", "content_length", "chunked")

# -- both scanners ----------------------------------------------------------------------------

Scanners = tuple[Callable[..., Any], Callable[..., Any]]  # (scan_request, scan_response)


def _scanners() -> dict[str, Scanners]:
    found = {"python": (fastpath.scan_request_py, fastpath.scan_response_py)}
    try:
        scan = importlib.import_module("meshlb.protocol._scan")
    except ImportError:  # built without a C compiler
        return found
    return {"c": (scan.scan_request, scan.scan_response), **found}


SCANNERS = _scanners()


@contextmanager
def _scanning_with(scanners: Scanners) -> Iterator[None]:
    saved = fastpath.scan_request, fastpath.scan_response
    fastpath.scan_request, fastpath.scan_response = scanners
    try:
        yield
    finally:
        fastpath.scan_request, fastpath.scan_response = saved


def _describe(head: RequestHead | ResponseHead | None, names: tuple[str, ...]) -> Any:
    if head is None:
        return None
    return tuple(getattr(head, name) for name in names) + (head.raw, head.headers)


def fast_request(head: bytes, limits: H1Limits, valid_host: bytes = b"") -> RequestHead | None:
    """fast_request_head with every scanner, which must agree; the first one's result."""
    if "c" in SCANNERS:
        args = head, limits.max_target_bytes, limits.max_headers
        assert SCANNERS["c"][0](*args) == SCANNERS["python"][0](*args), head
    results = []
    for scanners in SCANNERS.values():
        with _scanning_with(scanners):
            results.append(fast_request_head(head, limits, valid_host))
    for other in results[1:]:
        assert _describe(other, REQUEST_FIELDS) == _describe(results[0], REQUEST_FIELDS), head
    return results[0]


def fast_response(head: bytes, limits: H1Limits) -> ResponseHead | None:
    if "c" in SCANNERS:
        args = head, limits.max_headers
        assert SCANNERS["c"][1](*args) == SCANNERS["python"][1](*args), head
    results = []
    for scanners in SCANNERS.values():
        with _scanning_with(scanners):
            results.append(fast_response_head(head, limits))
    for other in results[1:]:
        assert _describe(other, RESPONSE_FIELDS) == _describe(results[0], RESPONSE_FIELDS), head
    return results[0]


def test_every_scanner_is_under_test() -> None:
    assert "python" in SCANNERS
    assert fastpath.SCANNER in SCANNERS  # the one in use: "c" when the extension was built


# -- the comparison ---------------------------------------------------------------------------


def _fields(head: RequestHead | ResponseHead) -> list[tuple[bytes, bytes]]:
    return [(name.lower(), value) for name, value in head.headers]


def _lines(raw: bytes) -> list[tuple[bytes, bytes]]:
    """(lower-cased name, value without its leading blanks) of each field line in `raw`."""
    out = []
    for line in raw.split(b"\r\n")[:-1]:
        name, _, value = line.partition(b":")
        out.append((name.lower(), value.lstrip(b" \t")))
    return out


def _general_request(head: bytes, limits: H1Limits) -> RequestHead:
    return parse_request_head(head, RequestHeadBuilder(limits))


def _general_response(head: bytes, limits: H1Limits) -> ResponseHead:
    return parse_response_head(head, ResponseHeadBuilder(limits))


def check_request(head: bytes, limits: H1Limits, valid_host: bytes = b"") -> RequestHead | None:
    """The fast head for `head`, after checking it against the general path (None: refused)."""
    fast = fast_request(head, limits, valid_host)
    if fast is None:
        return None
    assert fast.raw is not None, "a fast head always carries its field lines"
    builder = RequestHeadBuilder(limits)
    builder.valid_host = valid_host
    try:
        general = parse_request_head(head, builder)
    except ProtocolError as exc:
        pytest.fail(f"fast path accepted {head!r}, general path rejects it: {exc!r}")
    differ = {
        name: (getattr(fast, name), getattr(general, name))
        for name in REQUEST_FIELDS
        if getattr(fast, name) != getattr(general, name)
    }
    assert not differ, f"{head!r}: (fast, general) {differ}"
    assert _fields(fast) == _fields(general), head
    if general.raw is not None:
        assert fast.raw == general.raw, head
    else:
        # The general path would serialize its fields instead of forwarding the lines as
        # received: that must say the same, down to the framing values (a Content-Length of
        # 005 or a Host with trailing blanks is rewritten, not forwarded), and no field
        # meshlb writes itself may be among them.
        lines = _lines(fast.raw)
        assert all(not name.startswith(b"x-forwarded-") for name, _ in lines), head
        assert all(name not in (b"forwarded", b"x-real-ip") for name, _ in lines), head
        framing = [(name, value) for name, value in lines if name in (b"host", b"content-length")]
        expected = [(b"host", general.host)]
        if general.content_length is not None:
            expected.append((b"content-length", b"%d" % general.content_length))
        assert sorted(framing) == sorted(expected), f"{head!r}: only the fast path forwards it"
    return fast


def check_response(head: bytes, limits: H1Limits) -> ResponseHead | None:
    fast = fast_response(head, limits)
    if fast is None:
        return None
    assert fast.raw is not None, "a fast head always carries its field lines"
    try:
        general = _general_response(head, limits)
    except ProtocolError as exc:
        pytest.fail(f"fast path accepted {head!r}, general path rejects it: {exc!r}")
    differ = {
        name: (getattr(fast, name), getattr(general, name))
        for name in RESPONSE_FIELDS
        if getattr(fast, name) != getattr(general, name)
    }
    assert not differ, f"{head!r}: (fast, general) {differ}"
    assert _fields(fast) == _fields(general), head
    if general.raw is not None:
        assert fast.raw == general.raw, head
    else:
        # The general path consumed a field: only a Connection line may be missing from raw.
        lines = head.split(b"\r\n")[1:-2]
        kept = [line for line in lines if line.partition(b":")[0].lower() != b"connection"]
        assert len(kept) == len(lines) - 1, head
        assert fast.raw == b"".join(line + b"\r\n" for line in kept), head
    return fast


# -- the grammar ------------------------------------------------------------------------------
#
# Each head is drawn clean, and then zero, one or two of its parts are drawn from a tricky
# alphabet instead; so heads come as common shapes, near misses with one fault, and a few
# with two. sampled_from picks uniformly, which keeps these proportions as written.

TCHAR = b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _bytes_from(alphabet: bytes, min_size: int = 0, max_size: int = 10) -> st.SearchStrategy[bytes]:
    return st.lists(
        st.sampled_from(sorted(set(alphabet))), min_size=min_size, max_size=max_size
    ).map(bytes)


@functools.cache
def _random_case(name: bytes) -> st.SearchStrategy[bytes]:
    """`name` as sent: its usual spellings (which hit the lookup tables), or any mix of cases."""
    title = b"-".join(part.capitalize() for part in name.split(b"-"))
    flips = st.lists(st.booleans(), min_size=len(name), max_size=len(name)).map(
        lambda flags: bytes(
            c ^ 0x20 if flag and (0x41 <= c <= 0x5A or 0x61 <= c <= 0x7A) else c
            for c, flag in zip(name, flags, strict=True)
        )
    )
    return st.one_of(st.sampled_from([title, name.lower(), name.upper()]), flips)


METHODS = [b"GET", b"GET", b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"OPTIONS", b"PROPFIND"]
TRICKY_METHODS = [b"get", b"post", b"FOO", b"CONNECT", b"PRI", b"G(T", b"M-SEARCH", b""]
clean_targets = st.one_of(
    st.sampled_from([b"/", b"/", b"/a?b=c", b"/index.html", b'/q?x="y"&z=%20']),
    st.builds(lambda p: b"/" + p, _bytes_from(b"abc/?=&%.-_~|{}^`[]@:!$'()*+,;\"")),
)
tricky_targets = st.one_of(
    st.sampled_from(
        [
            b"/a#frag",
            b"/#",
            b"/a b",
            b"/a\tb",
            b"http://h/x",
            b"http://a.example/x",
            b"HTTP://A.EXAMPLE?q",
            b"*",
            b"a/b",
            b"",
            b"/caf\xc3\xa9",
            b"/" + b"a" * 20,
        ]
    ),
    st.builds(lambda p: b"/" + p, _bytes_from(b"ab#\x00\x7f\x80 \t\r\n", max_size=4)),
)
VERSIONS = [b"HTTP/1.1"] * 5 + [b"HTTP/1.0"]
TRICKY_VERSIONS = [b"HTTP/2.0", b"HTTP/1.2", b"HTTP/0.9", b"http/1.1", b"HTTP/1.10", b""]
TRICKY_SEPARATORS = [b"  ", b"\t", b""]

REQUEST_SPECIAL_VALUES: dict[bytes, list[bytes]] = {
    b"Host": [
        b"a.example",
        b"a.example:8080",
        b"A.EXAMPLE",
        b"[::1]:8080",
        b"a",
        b"",
        b"a b",
        b"a@b",
        b"a/b",
        b"a:8o",
        b"a:1:2",
        b"caf\xc3\xa9",
    ],
    b"Content-Length": [
        b"0",
        b"5",
        b"12",
        b"100",
        b"101",
        b"4096",
        b"005",
        b"05",
        b"+5",
        b"-1",
        b"5, 5",
        b"5,5",
        b"1 0",
        b"0x5",
        b"9" * 18,
        b"9" * 19,
        b"9" * 30,
        b"",
    ],
    b"Transfer-Encoding": [b"chunked", b"Chunked", b"gzip, chunked", b"identity", b""],
    b"Connection": [
        b"keep-alive",
        b"Keep-Alive",
        b"close",
        b"Close",
        b"CLOSE",
        b"foo",
        b"close, foo",
        b"Upgrade",
        b"keep-alive, Upgrade",
        b"content-length",
        b"host",
        b"x-request-id",
        b"x-forwarded-for",
        b"a b",
        b"",
    ],
    b"Upgrade": [b"websocket", b"h2c"],
    b"Expect": [b"100-continue", b"100-Continue", b"fancy"],
    b"X-Forwarded-For": [b"1.2.3.4", b"1.2.3.4, 5.6.7.8"],
    b"X-Forwarded-Host": [b"a.example"],
    b"X-Forwarded-Proto": [b"https"],
    b"X-Real-IP": [b"1.2.3.4"],
    b"Forwarded": [b"for=1.2.3.4;proto=https", b""],
    b"X-Request-Id": [b"abc", b""],
    b"Proxy-Connection": [b"keep-alive"],
    b"Proxy-Authorization": [b"Basic eA=="],
    b"TE": [b"trailers"],
    b"Trailer": [b"X-Sum"],
    b"Keep-Alive": [b"timeout=5"],
}
RESPONSE_SPECIAL_VALUES = {
    **{name: values for name, values in REQUEST_SPECIAL_VALUES.items() if name != b"Host"},
    b"Connection": [
        b"keep-alive",
        b"Keep-Alive",
        b"KEEP-ALIVE",
        b"close",
        b"Close",
        b"CLOSE",
        b"close, keep-alive",
        b"close,",
        b"foo",
        b"upgrade",
        b"x-custom",
        b"server",
        b"content-length",
        b"",
    ],
    b"Host": [b"a.example"],
}
COMMON_NAMES = [
    b"Accept",
    b"User-Agent",
    b"Cookie",
    b"Server",
    b"Date",
    b"Content-Type",
    b"Via",
    b"X-Custom",
    b"x-y",
]
# Ordinary names that share a prefix with a special one.
LOOKALIKE_NAMES = [
    b"Hostname",
    b"Host-X",
    b"Content-Lengths",
    b"Content-Length-X",
    b"Connection-X",
    b"Tex",
    b"Te-X",
    b"Trailers",
    b"Keep-Alives",
    b"Upgrade-Insecure-Requests",
    b"Expect-CT",
    b"X-Request-Ids",
    b"Proxy-X",
    b"Proxy",
    b"Transfer",
    b"Forwarded-For",
    b"Forwardeds",
    b"X-Real-IPs",
    b"X-Real-I",
]
ordinary_names = st.one_of(
    st.sampled_from(COMMON_NAMES).flatmap(_random_case),
    st.sampled_from(COMMON_NAMES + LOOKALIKE_NAMES).flatmap(_random_case),
    _bytes_from(TCHAR, min_size=1, max_size=8),
)
tricky_names = st.sampled_from(
    [b"", b"X Y", b"X@Y", b"X/Y", b"X\x00", b"X\xc3\xa9", b'"X"', b"X\t", b"\x0bX"]
)
clean_values = st.one_of(
    st.sampled_from([b"*/*", b"text/html; q=0.9", b"curl/8.0", b"a=b; c=d", b"x", b"1", b""]),
    _bytes_from(b'abcxyz019-_.,;=/()" \t:', max_size=12),
)
tricky_values = st.builds(
    lambda a, b, c: a + b + c,
    _bytes_from(b"abc", max_size=3),
    st.sampled_from(
        [
            b"\xe9",
            b"\x80",
            b"\xff",
            b"caf\xc3\xa9",
            b"\x00",
            b"\x01",
            b"\x0b",
            b"\x0c",
            b"\x1b",
            b"\x7f",
            b"\r",
            b"\n",
            b"\r\n",
        ]
    ),
    _bytes_from(b"abc", max_size=3),
)
COLONS = [b": ", b": ", b":", b":  ", b":\t"]
TRICKY_COLONS = [b" : ", b" :", b"\t:", b"::", b""]
LEADING = [b"", b"", b"", b" ", b"\t", b" \t "]
TRAILING = [b""] * 7 + [b" ", b"\t", b" \t"]
TRICKY_LINE_ENDS = [b"\n", b"\r", b"\r\r\n", b"\n\r"]
# obs-fold, or whitespace before a field: a line that starts with SP or HTAB
FOLDED = [b" folded\r\n", b"\tfolded\r\n", b" X: y\r\n", b" \r\n", b"\tHost: a\r\n"]
FIELD_FAULTS = ["name", "value", "colon", "line end", "fold"]

# Strategies are built once: a strategy made afresh inside every draw is validated afresh.
colons, tricky_colons = st.sampled_from(COLONS), st.sampled_from(TRICKY_COLONS)
leading, trailing = st.sampled_from(LEADING), st.sampled_from(TRAILING)
tricky_line_ends, folded = st.sampled_from(TRICKY_LINE_ENDS), st.sampled_from(FOLDED)
field_faults = st.sampled_from(FIELD_FAULTS)
one_in_three = st.sampled_from([False, False, True])


def special_field(special: dict[bytes, list[bytes]]) -> st.SearchStrategy[tuple[bytes, bytes]]:
    """(name, value) of a special field; those the recognizers handle drawn 4 times as often."""
    handled = (b"Host", b"Content-Length", b"Connection")
    names = [name for name in sorted(special) for _ in range(4 if name in handled else 1)]
    fields = {
        name: st.tuples(_random_case(name), st.sampled_from(special[name])) for name in special
    }
    return st.sampled_from(names).flatmap(fields.__getitem__)


REQUEST_SPECIAL = special_field(REQUEST_SPECIAL_VALUES)
RESPONSE_SPECIAL = special_field(RESPONSE_SPECIAL_VALUES)
HOST_ONLY = special_field({b"Host": REQUEST_SPECIAL_VALUES[b"Host"]})
ordinary_field = st.tuples(ordinary_names, clean_values)


@functools.cache
def field_lines(
    special: st.SearchStrategy[tuple[bytes, bytes]],
    fault: str | None = None,
    is_special: bool | None = None,
) -> st.SearchStrategy[bytes]:
    """One field line, with `fault` (one of FIELD_FAULTS) drawn from a tricky alphabet."""

    @st.composite
    def line(draw: st.DrawFn) -> bytes:
        if fault == "fold":
            return draw(folded)
        special_line = draw(one_in_three) if is_special is None else is_special
        name, value = draw(special if special_line else ordinary_field)
        if fault == "name":
            name = draw(tricky_names)
        elif fault == "value":
            value = draw(tricky_values)
        colon = draw(tricky_colons if fault == "colon" else colons)
        end = draw(tricky_line_ends) if fault == "line end" else b"\r\n"
        return name + colon + draw(leading) + value + draw(trailing) + end

    return line()


@functools.cache
def _index(length: int) -> st.SearchStrategy[int]:
    return st.integers(0, length)


def _insert(draw: st.DrawFn, lines: list[bytes], line: bytes) -> None:
    lines.insert(draw(_index(len(lines))), line)


@functools.cache
def faults(parts: tuple[str, ...]) -> st.SearchStrategy[list[str]]:
    """Which parts of a head to draw from tricky alphabets: none, one or two of them."""
    return st.sampled_from([0, 0, 0, 1, 1, 2]).flatmap(
        lambda count: st.lists(st.sampled_from(parts), min_size=count, max_size=count)
    )


@functools.cache
def _field_lists(special: st.SearchStrategy[tuple[bytes, bytes]]) -> st.SearchStrategy[list[bytes]]:
    return st.lists(field_lines(special), max_size=5)


def fields(
    draw: st.DrawFn, special: st.SearchStrategy[tuple[bytes, bytes]], faulty: int
) -> list[bytes]:
    """Up to five field lines, and `faulty` more with one fault each."""
    lines = draw(_field_lists(special))
    for _ in range(faulty):
        _insert(draw, lines, draw(field_lines(special, draw(field_faults))))
    return lines


methods, tricky_methods = st.sampled_from(METHODS), st.sampled_from(TRICKY_METHODS)
versions, tricky_versions = st.sampled_from(VERSIONS), st.sampled_from(TRICKY_VERSIONS)
tricky_separators = st.sampled_from(TRICKY_SEPARATORS)
REQUEST_PARTS = ("method", "target", "version", "separator", "field", "field")
# most heads get a clean Host
hosts = st.sampled_from([b"Host: a.example\r\n", b"host:a\r\n", b"HOST: \ta:1\r\n", None])


@st.composite
def request_heads(draw: st.DrawFn) -> bytes:
    tricky = draw(faults(REQUEST_PARTS))

    def pick(part: str, clean: st.SearchStrategy[bytes], odd: st.SearchStrategy[bytes]) -> bytes:
        return draw(odd if part in tricky else clean)

    method = pick("method", methods, tricky_methods)
    target = pick("target", clean_targets, tricky_targets)
    version = pick("version", versions, tricky_versions)
    separator = pick("separator", st.just(b" "), tricky_separators)
    lines = fields(draw, REQUEST_SPECIAL, tricky.count("field"))
    host = draw(hosts)
    if host is not None:
        _insert(draw, lines, host)
    return method + b" " + target + separator + version + b"\r\n" + b"".join(lines) + b"\r\n"


STATUS_LINES = [
    b"HTTP/1.1 200 OK",
    b"HTTP/1.1 200 OK",
    b"HTTP/1.1 200 OK",
    b"HTTP/1.1 201 Created",
    b"HTTP/1.1 404 Not Found",
    b"HTTP/1.1 500 Internal Server Error",
    b"HTTP/1.1 599 X",
    b"HTTP/1.1 204 No Content",
    b"HTTP/1.1 304 Not Modified",
    b"HTTP/1.0 200 OK",
    b"HTTP/1.1 100 Continue",
    b"HTTP/1.1 101 Switching Protocols",
]
status_lines = st.sampled_from(STATUS_LINES)
tricky_status_lines = st.one_of(
    st.sampled_from(
        [
            b"HTTP/1.1 200",
            b"HTTP/1.1 200 ",
            b"HTTP/1.1 200  OK",
            b"HTTP/1.1 200 O\tK",
            b"HTTP/1.1 200 \tOK",
            b"HTTP/1.1 200 caf\xc3\xa9",
            b"HTTP/1.1 200 O\x00K",
            b"HTTP/1.1 200 OK\x7f",
            b"HTTP/1.1 20 OK",
            b"HTTP/1.1 2000 OK",
            b"HTTP/1.1 2x0 OK",
            b"HTTP/1.1 099 X",
            b"HTTP/1.1 600 X",
            b"HTTP/1.1 999 X",
            b"HTTP/2.0 200 OK",
            b"HTTP/1.2 200 OK",
            b"http/1.1 200 OK",
            b"HTTP/1.1  200 OK",
            b" HTTP/1.1 200 OK",
            b"HTTP/1.1 200 OK\r",
        ]
    ),
    st.builds(
        lambda code, reason: b"HTTP/1.1 %d %s" % (code, reason),
        st.integers(100, 599),
        _bytes_from(b"ab :\t", max_size=5),
    ),
)
RESPONSE_PARTS = ("status line", "field", "field")


@st.composite
def response_heads(draw: st.DrawFn) -> bytes:
    tricky = draw(faults(RESPONSE_PARTS))
    status_line = draw(tricky_status_lines if "status line" in tricky else status_lines)
    lines = fields(draw, RESPONSE_SPECIAL, tricky.count("field"))
    return status_line + b"\r\n" + b"".join(lines) + b"\r\n"


def special_fields(draw: st.DrawFn, special: st.SearchStrategy[tuple[bytes, bytes]]) -> list[bytes]:
    """One to three special field lines among up to two ordinary ones, all well-formed."""
    lines = draw(st.lists(field_lines(special, None, True), min_size=1, max_size=3))
    for line in draw(st.lists(field_lines(special, None, False), max_size=2)):
        _insert(draw, lines, line)
    return lines


special_hosts = st.sampled_from(["clean", "clean", "special", "none"])
special_status_lines = st.sampled_from(
    [
        b"HTTP/1.1 200 OK",
        b"HTTP/1.1 404 Not Found",
        b"HTTP/1.1 204 No Content",
        b"HTTP/1.1 304 Not Modified",
        b"HTTP/1.1 101 Switching Protocols",
        b"HTTP/1.0 200 OK",
    ]
)


@st.composite
def request_heads_with_special_fields(draw: st.DrawFn) -> bytes:
    """A common request line, and the fields the recognizer must judge rather than pass on."""
    start = draw(methods) + b" " + draw(clean_targets) + b" HTTP/1.1\r\n"
    lines = special_fields(draw, REQUEST_SPECIAL)
    host = draw(special_hosts)
    if host == "clean":
        _insert(draw, lines, b"Host: a.example\r\n")
    elif host == "special":
        _insert(draw, lines, draw(field_lines(HOST_ONLY, None, True)))
    return start + b"".join(lines) + b"\r\n"


@st.composite
def response_heads_with_special_fields(draw: st.DrawFn) -> bytes:
    lines = special_fields(draw, RESPONSE_SPECIAL)
    return draw(special_status_lines) + b"\r\n" + b"".join(lines) + b"\r\n"


limits_choice = st.sampled_from([DEFAULT, TIGHT])


# -- 1, 2: property-based differential tests --------------------------------------------------


@settings(
    max_examples=500,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(request_heads(), limits_choice)
@example(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", DEFAULT)
@example(b"GET / HTTP/1.1\r\nHost:\r\n\r\n", DEFAULT)
@example(b"GET / HTTP/1.1\r\nhOsT: a\r\ncontent-LENGTH: 0\r\n\r\n", DEFAULT)
@example(b"GET / HTTP/1.1\r\nHost: a\r\nX::y\r\n\r\n", DEFAULT)
@example(b"GET / HTTP/1.1\r\nHost: a\r\nHostname: b\r\nTex: c\r\n\r\n", DEFAULT)
@example(b"OPTIONS / HTTP/1.1\r\nHost: a\r\nX:\t \tv\r\n\r\n", DEFAULT)
@example(b"GET /" + b"a" * 11 + b" HTTP/1.1\r\nHost: a\r\n\r\n", TIGHT)
def test_fast_request_head_agrees_with_the_general_path(head: bytes, limits: H1Limits) -> None:
    check_request(head, limits)


@settings(
    max_examples=400,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(response_heads(), limits_choice)
@example(b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n\r\n", DEFAULT)
@example(b"HTTP/1.1 200 OK\r\nX: 1\r\ncOnNeCtIoN:  CLOSE\r\nY: 2\r\n\r\n", DEFAULT)
@example(b"HTTP/1.1 200  OK\r\n\r\n", DEFAULT)
@example(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 0\r\n\r\n", DEFAULT)
@example(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n", DEFAULT)
@example(b"HTTP/1.1 200 OK\r\nExpect: x\r\nX-Request-Id: y\r\n\r\n", DEFAULT)
def test_fast_response_head_agrees_with_the_general_path(head: bytes, limits: H1Limits) -> None:
    check_response(head, limits)


@settings(max_examples=400, deadline=None, database=None)
@given(request_heads_with_special_fields(), limits_choice)
@example(b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 005\r\n\r\n", DEFAULT)
@example(b"GET / HTTP/1.1\r\nHost: a \r\n\r\n", DEFAULT)
@example(b"GET / HTTP/1.1\r\nHost: a\r\nX-Request-Id: r \r\n\r\n", DEFAULT)
@example(b"GET / HTTP/1.1\r\nHost: a\r\nX-Request-Id: 1\r\nx-request-id: 2\r\n\r\n", DEFAULT)
@example(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\nConnection: x\r\n\r\n", DEFAULT)
@example(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 101\r\n\r\n", TIGHT)
@example(b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\ncontent-length: 1\r\n\r\n", DEFAULT)
def test_fast_request_head_judges_special_fields_as_the_general_path(
    head: bytes, limits: H1Limits
) -> None:
    check_request(head, limits)


@settings(max_examples=300, deadline=None, database=None)
@given(response_heads_with_special_fields(), limits_choice)
@example(b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", DEFAULT)
@example(b"HTTP/1.1 200 OK\r\nConnection: close \r\n\r\n", DEFAULT)
@example(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", DEFAULT)
@example(b"HTTP/1.1 200 OK\r\nX-Request-Id: r\r\nExpect: e\r\n\r\n", DEFAULT)
def test_fast_response_head_judges_special_fields_as_the_general_path(
    head: bytes, limits: H1Limits
) -> None:
    check_response(head, limits)


def test_the_grammar_reaches_both_sides_of_the_fast_path() -> None:
    """The property tests mean little if the fast path refuses (or accepts) nearly all heads."""
    requests: list[bytes] = []
    responses: list[bytes] = []

    @settings(max_examples=200, deadline=None, database=None)
    @given(request_heads(), response_heads())
    def collect(request: bytes, response: bytes) -> None:
        requests.append(request)
        responses.append(response)

    collect()
    accepted = sum(fast_request(head, DEFAULT, b"") is not None for head in requests)
    assert 0.1 * len(requests) < accepted < 0.9 * len(requests)
    accepted = sum(fast_response(head, DEFAULT) is not None for head in responses)
    assert 0.1 * len(responses) < accepted < 0.9 * len(responses)


# -- 3: limits --------------------------------------------------------------------------------


def test_too_many_fields_are_refused() -> None:
    limits = H1Limits(max_headers=2)
    two = b"GET / HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n"
    three = b"GET / HTTP/1.1\r\nHost: a\r\nAccept: */*\r\nUser-Agent: x\r\n\r\n"
    assert check_request(two, limits) is not None
    assert fast_request(three, limits, b"") is None
    with pytest.raises(ProtocolError) as exc:
        _general_request(three, limits)
    assert exc.value.status == 431

    response_two = b"HTTP/1.1 200 OK\r\nServer: x\r\nContent-Length: 0\r\n\r\n"
    response_three = b"HTTP/1.1 200 OK\r\nServer: x\r\nDate: y\r\nConnection: close\r\n\r\n"
    assert check_response(response_two, limits) is not None
    assert fast_response(response_three, limits) is None


def test_a_target_over_the_limit_is_refused() -> None:
    limits = H1Limits(max_target_bytes=8)
    at_limit = b"GET /" + b"a" * 7 + b" HTTP/1.1\r\nHost: a\r\n\r\n"
    over = b"GET /" + b"a" * 8 + b" HTTP/1.1\r\nHost: a\r\n\r\n"
    assert check_request(at_limit, limits) is not None
    assert fast_request(over, limits, b"") is None
    with pytest.raises(ProtocolError) as exc:
        _general_request(over, limits)
    assert exc.value.status == 414


def test_a_content_length_over_the_body_limit_is_refused() -> None:
    def post(length: bytes) -> bytes:
        return b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: " + length + b"\r\n\r\n"

    limits = H1Limits(max_body_bytes=10)
    head = check_request(post(b"10"), limits)
    assert head is not None and head.content_length == 10
    assert fast_request(post(b"11"), limits, b"") is None
    with pytest.raises(ProtocolError) as exc:
        _general_request(post(b"11"), limits)
    assert exc.value.status == 413
    # 0 means unlimited
    head = check_request(post(b"9" * 18), H1Limits(max_body_bytes=0))
    assert head is not None and head.content_length == int(b"9" * 18)


def test_valid_host_skips_the_host_check_only_for_that_host() -> None:
    head = b"GET / HTTP/1.1\r\nHost: a.example:80\r\n\r\n"
    fast = check_request(head, DEFAULT, valid_host=b"a.example:80")
    assert fast is not None and fast.host == b"a.example:80"
    assert fast_request(b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", DEFAULT, b"a.example") is None


# -- 4: explicit examples ---------------------------------------------------------------------

ACCEPTED_REQUESTS = [
    b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /index.html?q=1 HTTP/1.1\r\nHost: a.example\r\nUser-Agent: curl/8.4.0\r\n"
    b"Accept: */*\r\n\r\n",
    b"POST /submit HTTP/1.1\r\nHost: a.example:8080\r\nContent-Type: text/plain\r\n"
    b"Content-Length: 5\r\n\r\n",
]


@pytest.mark.parametrize("head", ACCEPTED_REQUESTS)
def test_common_requests_are_accepted(head: bytes) -> None:
    fast = check_request(head, DEFAULT)
    assert fast is not None
    assert fast.raw == head[head.index(b"\r\n") + 2 : -2]
    assert fast.version == b"1.1" and fast.keep_alive


def test_accepted_request_reads_as_expected() -> None:
    fast = check_request(ACCEPTED_REQUESTS[2], DEFAULT)
    assert fast is not None
    assert (fast.method, fast.target, fast.host) == (b"POST", b"/submit", b"a.example:8080")
    assert fast.content_length == 5 and not fast.chunked and fast.has_body
    assert fast.headers == [(b"content-type", b"text/plain")]


def test_connection_and_request_id_are_read_as_the_general_path_reads_them() -> None:
    head = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\nX-Request-Id: r1 \r\n\r\n"
    fast = check_request(head, DEFAULT)
    if fast is not None:  # a recognizer may leave them to the general path
        assert not fast.keep_alive and fast.request_id == b"r1"
        assert fast.raw == b"Host: a\r\nX-Request-Id: r1 \r\n"  # Connection is hop-by-hop
        assert fast.headers == [(b"x-request-id", b"r1")]
    fast = check_request(head.replace(b"close", b"Keep-Alive"), DEFAULT)
    assert fast is None or fast.keep_alive


def test_common_responses_are_accepted() -> None:
    head = b"HTTP/1.1 200 OK\r\nServer: x\r\nContent-Length: 12\r\nConnection: keep-alive\r\n\r\n"
    fast = check_response(head, DEFAULT)
    assert fast is not None
    assert fast.raw == b"Server: x\r\nContent-Length: 12\r\n"
    assert (fast.status, fast.reason, fast.version) == (200, b"OK", b"1.1")
    assert fast.keep_alive and fast.content_length == 12 and not fast.chunked
    assert fast.headers == [(b"server", b"x")]

    fast = check_response(head.replace(b"keep-alive", b"close"), DEFAULT)
    assert fast is not None
    assert fast.raw == b"Server: x\r\nContent-Length: 12\r\n"
    assert not fast.keep_alive

    head = b"HTTP/1.1 404 Not Found\r\nConnection: close\r\nDate: d\r\n\r\n"
    fast = check_response(head, DEFAULT)
    assert fast is not None
    assert fast.raw == b"Date: d\r\n" and not fast.keep_alive and fast.content_length is None


REFUSED_REQUESTS = {
    "duplicate_host": b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
    "duplicate_host_case": b"GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n",
    "missing_host": b"GET / HTTP/1.1\r\nAccept: */*\r\n\r\n",
    "content_length_05": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 05\r\n\r\n",
    "content_length_twice": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
    b"Content-Length: 5\r\n\r\n",
    "transfer_encoding": b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
    "x_forwarded_for": b"GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n",
    # meshlb replaces or extends these (proxy/forwarding.py): never forwarded as received
    "x_real_ip": b"GET / HTTP/1.1\r\nHost: a\r\nX-Real-IP: 1.2.3.4\r\n\r\n",
    "x_real_ip_lower": b"GET / HTTP/1.1\r\nHost: a\r\nx-real-ip: 1.2.3.4\r\n\r\n",
    "forwarded": b"GET / HTTP/1.1\r\nHost: a\r\nForwarded: for=1.2.3.4\r\n\r\n",
    "x_forwarded_port": b"GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-Port: 443\r\n\r\n",
    # trailing whitespace where the general path then re-serializes the line (not verbatim)
    "host_trailing_space": b"GET / HTTP/1.1\r\nHost: a \r\n\r\n",
    "host_trailing_tab": b"GET / HTTP/1.1\r\nHost: a\t\r\n\r\n",
    "content_length_trailing_space": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5 \r\n\r\n",
    "http_1_0": b"GET / HTTP/1.0\r\nHost: a\r\n\r\n",
    "obs_text": b"GET / HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9\r\n\r\n",
    "connection_other": b"GET / HTTP/1.1\r\nHost: a\r\nConnection: x-custom\r\n\r\n",
    "connection_twice": b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n"
    b"Connection: close\r\n\r\n",
    "request_id_twice": b"GET / HTTP/1.1\r\nHost: a\r\nX-Request-Id: 1\r\nX-Request-Id: 2\r\n\r\n",
    "upgrade": b"GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
    "expect": b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n",
    "absolute_form": b"GET http://a/x HTTP/1.1\r\nHost: a\r\n\r\n",
    "asterisk": b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
    "unknown_method": b"FOO / HTTP/1.1\r\nHost: a\r\n\r\n",
}


@pytest.mark.parametrize("head", REFUSED_REQUESTS.values(), ids=REFUSED_REQUESTS.keys())
def test_uncommon_requests_are_refused(head: bytes) -> None:
    assert fast_request(head, DEFAULT, b"") is None


def test_trailing_whitespace_in_an_ordinary_value_is_refused_or_read_alike() -> None:
    # The general path trims it from `headers` and still forwards the line verbatim; the
    # recognizers may take either side, as long as they agree on both.
    request = b"GET / HTTP/1.1\r\nHost: a\r\nAccept: */* \t\r\n\r\n"
    fast = check_request(request, DEFAULT)
    assert fast is None or fast.headers == [(b"accept", b"*/*")]
    response = b"HTTP/1.1 200 OK\r\nServer: x \r\nConnection: close\t\r\n\r\n"
    fast_head = check_response(response, DEFAULT)
    assert fast_head is None or (
        fast_head.headers == [(b"server", b"x")] and not fast_head.keep_alive
    )


def test_a_response_with_forwarding_fields_stays_common() -> None:
    # In a response they mean nothing to meshlb: end-to-end fields like any other.
    head = b"HTTP/1.1 200 OK\r\nX-Real-IP: 1\r\nForwarded: for=a\r\nContent-Length: 0\r\n\r\n"
    fast = check_response(head, DEFAULT)
    assert fast is not None
    assert fast.raw == b"X-Real-IP: 1\r\nForwarded: for=a\r\nContent-Length: 0\r\n"


REFUSED_RESPONSES = {
    "no_reason": b"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n",
    "continue": b"HTTP/1.1 100 Continue\r\n\r\n",
    "switching": b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\n"
    b"Upgrade: websocket\r\n\r\n",
    "no_content_with_length": b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n",
    "not_modified_with_length": b"HTTP/1.1 304 Not Modified\r\nContent-Length: 12\r\n\r\n",
    "http_1_0": b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n",
    "chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
    "connection_other": b"HTTP/1.1 200 OK\r\nConnection: x-custom\r\nX-Custom: 1\r\n\r\n",
    "connection_twice": b"HTTP/1.1 200 OK\r\nConnection: close\r\nConnection: close\r\n\r\n",
    "content_length_trailing_space": b"HTTP/1.1 200 OK\r\nContent-Length: 5 \r\n\r\n",
    "obs_text": b"HTTP/1.1 200 OK\r\nServer: caf\xc3\xa9\r\n\r\n",
    "content_length_05": b"HTTP/1.1 200 OK\r\nContent-Length: 05\r\n\r\n",
    "host": b"HTTP/1.1 200 OK\r\nHost: a\r\n\r\n",
}


@pytest.mark.parametrize("head", REFUSED_RESPONSES.values(), ids=REFUSED_RESPONSES.keys())
def test_uncommon_responses_are_refused(head: bytes) -> None:
    assert fast_response(head, DEFAULT) is None


# -- 5: the malformed-request battery ---------------------------------------------------------

# Refused by the reader before any head parser is asked (reader.py checks the head size);
# neither the fast nor the general head parser looks at max_header_bytes.
READER_STAGE = {"header_section_too_large"}


def _battery_heads() -> list[tuple[str, bytes]]:
    """The battery's malformed cases whose fault lies in one complete head, cut at its end."""
    heads = []
    for case in malformed(BATTERY_LIMITS):
        if case.name.startswith(("chunk", "trailer")) or case.name in READER_STAGE:
            continue  # the head is fine, the body (or the reader) is what gets refused
        end = case.raw.find(b"\r\n\r\n")
        if end < 0:
            continue  # no complete head (bare LF line ends): the fast path is never asked
        heads.append((case.name, case.raw[: end + 4]))
    return heads


BATTERY_HEADS = _battery_heads()


def test_the_battery_yields_enough_heads() -> None:
    assert len(BATTERY_HEADS) >= 80


@pytest.mark.parametrize("head", [h for _, h in BATTERY_HEADS], ids=[n for n, _ in BATTERY_HEADS])
def test_malformed_battery_heads_are_refused(head: bytes) -> None:
    with pytest.raises(ProtocolError):
        _general_request(head, BATTERY_LIMITS)  # the head itself is what the battery refuses
    assert fast_request(head, BATTERY_LIMITS, b"") is None


@pytest.mark.parametrize("case", malformed(BATTERY_LIMITS), ids=lambda case: case.name)
def test_every_battery_head_agrees(case: Bad) -> None:
    # Whatever the stage a case is refused at, a head the fast path accepts is read the same.
    end = case.raw.find(b"\r\n\r\n")
    if end >= 0:
        check_request(case.raw[: end + 4], BATTERY_LIMITS)


def test_valid_battery_heads_agree() -> None:
    accepted = 0
    for case in valid(BATTERY_LIMITS):
        raw = case.raw.lstrip(b"\r\n")  # the reader skips empty lines before a head
        while raw:
            end = raw.index(b"\r\n\r\n") + 4
            head, raw = raw[:end], raw[end:]
            accepted += check_request(head, BATTERY_LIMITS) is not None
            general = _general_request(head, BATTERY_LIMITS)
            if general.chunked:
                break  # the rest is a chunked body and whatever follows it
            raw = raw[general.content_length or 0 :]
    assert accepted >= 5
