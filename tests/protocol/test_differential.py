"""Differential test: the llhttp and h11 codecs agree on every request, valid or mutated.

Requests are built from parts drawn from tricky alphabets (control bytes, obs-text, spaces and
tabs around colons, CL/TE combinations, bad line endings, folded lines, chunk-size and
extension mutations), sometimes pipelined, and cut into random reads. The two codecs must
accept and refuse the same requests, with the same status, the same heads and the same
bodies; and how the bytes were cut must not matter.
"""

from __future__ import annotations

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from meshlb.protocol import make_request_parser, make_response_parser
from meshlb.protocol.messages import H1Limits

from .conftest import Recorder, feed_all

LIMITS = H1Limits(max_header_bytes=2048, max_headers=16, max_target_bytes=256, max_body_bytes=4096)

TCHAR = b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
TRICKY = b' \t\x00\x01\x0b\x0c\r\n\x7f\x80\xe9\xff",;:=@/?#[]()\\'


def _bytes_from(alphabet: bytes, min_size: int = 0, max_size: int = 12) -> st.SearchStrategy[bytes]:
    return st.lists(
        st.sampled_from(sorted(set(alphabet))), min_size=min_size, max_size=max_size
    ).map(bytes)


mostly_clean = lambda clean, tricky: st.one_of(clean, clean, clean, tricky)  # noqa: E731

methods = mostly_clean(
    st.sampled_from([b"GET", b"POST", b"PUT", b"HEAD", b"OPTIONS", b"DELETE", b"PATCH"]),
    st.sampled_from([b"get", b"FOO", b"CONNECT", b"PRI", b"G(T", b"M-SEARCH", b""]),
)
targets = mostly_clean(
    st.builds(
        lambda p: b"/" + p, _bytes_from(b"abc/?=&%.-_~|{}\"<>^`\\[]@:!$'()*+,;", max_size=10)
    ),
    st.one_of(
        st.sampled_from(
            [
                b"*",
                b"http://a.example/x",
                b"http://b.example",
                b"HTTPS://A.EXAMPLE?q",
                b"a/b",
                b"ftp://a/",
            ]
        ),
        st.builds(lambda p: b"/" + p, _bytes_from(TRICKY + b"abc", max_size=6)),
    ),
)
versions = mostly_clean(
    st.sampled_from([b"HTTP/1.1", b"HTTP/1.1", b"HTTP/1.0"]),
    st.sampled_from(
        [b"HTTP/1.2", b"HTTP/2.0", b"HTTP/0.9", b"http/1.1", b"HTTP/1.1 ", b"HTTP/1.10", b""]
    ),
)
separators = mostly_clean(st.just(b" "), st.sampled_from([b"  ", b"\t", b" \t"]))

FIELD_VALUES = {
    b"Host": [b"a.example", b"a.example:80", b"A.EXAMPLE", b"u@a", b"a b", b"[::1]:8", b"", b"a/b"],
    b"Content-Length": [b"0", b"3", b"5", b"05", b"+5", b"5, 5", b"5 ", b"1 0", b"9" * 20, b""],
    b"Transfer-Encoding": [
        b"chunked",
        b"Chunked",
        b"chunked ",
        b"gzip, chunked",
        b"chunked, identity",
        b"identity",
        b"chunked\x0b",
        b"",
    ],
    b"Connection": [
        b"close",
        b"keep-alive",
        b"Upgrade",
        b"x-foo",
        b"content-length",
        b"close, x-foo",
        b"a b",
    ],
    b"Upgrade": [b"websocket", b"h2c"],
    b"Expect": [b"100-continue", b"100-Continue", b"fancy"],
    b"X-Forwarded-For": [b"10.0.0.1", b"10.0.0.1, 10.0.0.2"],
    b"X-Request-Id": [b"abc"],
    b"Keep-Alive": [b"timeout=5"],
    b"TE": [b"trailers"],
    b"Proxy-Authorization": [b"Basic x"],
}
special_fields = st.sampled_from(sorted(FIELD_VALUES)).flatmap(
    lambda name: st.tuples(
        st.sampled_from([name, name.lower(), name.upper()]), st.sampled_from(FIELD_VALUES[name])
    )
)
plain_fields = st.tuples(
    mostly_clean(
        st.sampled_from([b"Accept", b"User-Agent", b"Cookie", b"X-Custom", b"x-y"]),
        _bytes_from(TCHAR + b" \t\x00:@/\xe9", min_size=0, max_size=8),
    ),
    mostly_clean(
        _bytes_from(b"abc xyz,;=/", max_size=10), _bytes_from(TRICKY + b"abc", max_size=8)
    ),
)
colons = mostly_clean(
    st.sampled_from([b": ", b":"]), st.sampled_from([b" : ", b":\t", b":  ", b"\t:", b"::"])
)
line_ends = mostly_clean(
    st.just(b"\r\n"), st.sampled_from([b"\n", b"\r", b"\r\n ", b"\r\n\t", b"\r\r\n"])
)
field_lines = st.tuples(st.one_of(special_fields, plain_fields), colons, line_ends).map(
    lambda t: t[0][0] + t[1] + t[0][1] + t[2]
)


@st.composite
def chunked_bodies(draw: st.DrawFn) -> bytes:
    out = b""
    for data in draw(st.lists(st.binary(min_size=1, max_size=12), max_size=3)):
        size = draw(
            mostly_clean(
                st.just(b"%x" % len(data)),
                st.sampled_from([b"%X" % len(data), b"0" * 17 + b"1", b" 1", b"1 ", b"+1", b"g"]),
            )
        )
        ext = draw(
            mostly_clean(
                st.just(b""),
                st.sampled_from([b";a", b";a=b", b';a="b c"', b"; a", b";", b";a=\x00"]),
            )
        )
        end = draw(mostly_clean(st.just(b"\r\n"), st.sampled_from([b"\n", b"XX", b""])))
        out += size + ext + b"\r\n" + data + end
    trailer = draw(
        mostly_clean(
            st.just(b""), st.sampled_from([b"T: 1\r\n", b"T 1\r\n", b" T: 1\r\n", b"T: \x00\r\n"])
        )
    )
    return out + b"0\r\n" + trailer + b"\r\n"


@st.composite
def requests(draw: st.DrawFn) -> bytes:
    start = draw(methods) + draw(separators) + draw(targets) + draw(separators) + draw(versions)
    fields = draw(st.lists(field_lines, max_size=6))
    if draw(st.booleans()):
        fields.insert(0, b"Host: a.example\r\n")
    head = start + b"\r\n" + b"".join(fields) + b"\r\n"
    chunked = any(line.lower().startswith(b"transfer-encoding") for line in fields)
    body = (
        draw(chunked_bodies()) if chunked and draw(st.booleans()) else draw(st.binary(max_size=8))
    )
    return head + body


@st.composite
def cuts(draw: st.DrawFn, data: bytes) -> list[bytes]:
    points = sorted(set(draw(st.lists(st.integers(0, len(data)), max_size=4))))
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:], strict=False) if b > a]


def run(codec: str, pieces: list[bytes]) -> list[tuple[object, ...]]:
    recorder = Recorder()
    feed_all(make_request_parser(codec, recorder, LIMITS), pieces)
    return recorder.summary()


@settings(
    max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    st.lists(requests(), min_size=1, max_size=3)
    .map(b"".join)
    .flatmap(lambda d: st.tuples(st.just(d), cuts(d)))
)
@example((b"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked \r\n\r\n0\r\n\r\n", []))
@example((b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", []))
def test_codecs_agree_on_requests(case: tuple[bytes, list[bytes]]) -> None:
    data, pieces = case
    whole = run("h11", [data])
    assert run("llhttp", pieces or [data]) == whole
    assert run("h11", pieces or [data]) == whole


status_lines = mostly_clean(
    st.sampled_from(
        [
            b"HTTP/1.1 200 OK",
            b"HTTP/1.1 204 No Content",
            b"HTTP/1.1 304 Not Modified",
            b"HTTP/1.0 200 OK",
            b"HTTP/1.1 100 Continue",
        ]
    ),
    st.sampled_from(
        [
            b"HTTP/1.1 200",
            b"HTTP/1.1 20 OK",
            b"HTTP/2.0 200 OK",
            b"HTTP/1.1 200  OK",
            b"HTTP/1.1 999 X",
            b"HTTP/1.1 200 O\x00K",
        ]
    ),
)


@st.composite
def responses(draw: st.DrawFn) -> bytes:
    fields = [
        line
        for line in draw(st.lists(field_lines, max_size=5))
        if not line.lower().startswith(b"host")
    ]
    head = draw(status_lines) + b"\r\n" + b"".join(fields) + b"\r\n"
    chunked = any(line.lower().startswith(b"transfer-encoding") for line in fields)
    return head + (draw(chunked_bodies()) if chunked else draw(st.binary(max_size=8)))


@settings(max_examples=200, deadline=None, database=None)
@given(
    st.lists(responses(), min_size=1, max_size=3),
    st.lists(st.sampled_from([b"GET", b"HEAD"]), min_size=3, max_size=3),
    st.booleans(),
)
def test_codecs_agree_on_responses(
    messages: list[bytes], methods_sent: list[bytes], eof: bool
) -> None:
    summaries = []
    for codec in ("llhttp", "h11"):
        recorder = Recorder()
        parser = make_response_parser(codec, recorder, LIMITS)
        for method in methods_sent:
            parser.expect(method)
        parser.feed(b"".join(messages))
        if eof:
            parser.feed_eof()
        summaries.append(
            [
                (kind, *rest[:1]) if kind == "error" else (kind, *rest)
                for kind, *rest in recorder.summary()
            ]
        )
    assert summaries[0] == summaries[1]
