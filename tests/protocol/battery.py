"""The request battery: malformed requests with the status each must get, and valid edge cases.

Sources: RFC 9112/9110 (the MUSTs and the "ought to be handled as an error" cases),
PortSwigger's request-smuggling research (CL.TE, TE.CL, TE.TE obfuscations) and the HTTP
Garden's differential findings (whitespace and case tricks, chunk-size and extension
leniency, absolute-form and Host disagreements, hop-by-hop abuse). The same tables drive the
codec tests (tests/protocol) and the end-to-end smuggling test (tests/e2e), so the limit
cases are built from the H1Limits in force.
"""

from __future__ import annotations

from typing import NamedTuple

from meshlb.protocol.messages import H1Limits

# The limits the battery is written for: small enough to make the limit cases cheap.
LIMITS = H1Limits(
    max_header_bytes=8192, max_headers=50, max_target_bytes=1024, max_body_bytes=65536
)


class Bad(NamedTuple):
    name: str
    raw: bytes
    status: int
    source: str


class Good(NamedTuple):
    name: str
    raw: bytes
    requests: tuple[tuple[bytes, bytes, bytes, bytes], ...]  # (method, target, host, body) each


def _req(*lines: bytes, body: bytes = b"", start: bytes = b"POST / HTTP/1.1") -> bytes:
    return start + b"\r\n" + b"".join(line + b"\r\n" for line in lines) + b"\r\n" + body


H = b"Host: a.example"
TE = b"Transfer-Encoding: chunked"
CHUNKED_HELLO = b"5\r\nhello\r\n0\r\n\r\n"


def _te(value: bytes) -> bytes:
    return _req(H, b"Transfer-Encoding: " + value, body=CHUNKED_HELLO)


def _chunked(body: bytes) -> bytes:
    return _req(H, TE, body=body)


def _get(*lines: bytes, start: bytes = b"GET / HTTP/1.1") -> bytes:
    return _req(*lines, start=start)


def malformed(limits: H1Limits = LIMITS) -> list[Bad]:
    rfc, ps, garden = "RFC 9112", "PortSwigger", "HTTP Garden"
    cases = [
        # -- Content-Length and Transfer-Encoding together (CL.TE / TE.CL)
        Bad("cl_then_te", _req(H, b"Content-Length: 6", TE, body=b"0\r\n\r\nX"), 400, ps),
        Bad(
            "te_then_cl",
            _req(H, TE, b"Content-Length: 3", body=b"8\r\nSMUGGLED\r\n0\r\n\r\n"),
            400,
            ps,
        ),
        Bad("cl_zero_with_te", _req(H, b"Content-Length: 0", TE, body=CHUNKED_HELLO), 400, ps),
        Bad("te_on_http10", _req(TE, body=CHUNKED_HELLO, start=b"POST / HTTP/1.0"), 400, rfc),
        # -- Content-Length syntax
        Bad(
            "cl_duplicate_equal",
            _req(H, b"Content-Length: 5", b"Content-Length: 5", body=b"hello"),
            400,
            rfc,
        ),
        Bad(
            "cl_duplicate_differ",
            _req(H, b"Content-Length: 5", b"Content-Length: 6", body=b"hello!"),
            400,
            ps,
        ),
        Bad(
            "cl_duplicate_case",
            _req(H, b"Content-Length: 5", b"content-length: 5", body=b"hello"),
            400,
            garden,
        ),
        Bad("cl_list", _req(H, b"Content-Length: 5, 5", body=b"hello"), 400, rfc),
        Bad("cl_list_differ", _req(H, b"Content-Length: 5,6", body=b"hello!"), 400, rfc),
        Bad("cl_plus", _req(H, b"Content-Length: +5", body=b"hello"), 400, garden),
        Bad("cl_minus", _req(H, b"Content-Length: -1", body=b"hello"), 400, garden),
        Bad("cl_space_inside", _req(H, b"Content-Length: 1 0", body=b"helloworld"), 400, garden),
        Bad("cl_hex", _req(H, b"Content-Length: 0x5", body=b"hello"), 400, garden),
        Bad("cl_trailing_junk", _req(H, b"Content-Length: 5a", body=b"hello"), 400, garden),
        Bad("cl_decimal_point", _req(H, b"Content-Length: 5.0", body=b"hello"), 400, garden),
        Bad("cl_empty", _req(H, b"Content-Length:", body=b"hello"), 400, rfc),
        Bad(
            "cl_overflow",
            _req(H, b"Content-Length: 99999999999999999999999", body=b"x"),
            400,
            garden,
        ),
        Bad("cl_vertical_tab", _req(H, b"Content-Length: 5\x0b", body=b"hello"), 400, garden),
        Bad("cl_unicode_digit", _req(H, b"Content-Length: \xd9\xa5", body=b"hello"), 400, garden),
        # -- Transfer-Encoding obfuscation (TE.TE)
        Bad("te_chunked_identity", _te(b"chunked, identity"), 400, ps),
        Bad("te_gzip_chunked", _te(b"gzip, chunked"), 400, rfc),
        Bad("te_identity", _req(H, b"Transfer-Encoding: identity", body=b"hello"), 400, ps),
        Bad("te_chunked_twice_list", _te(b"chunked, chunked"), 400, ps),
        Bad("te_duplicate_lines", _req(H, TE, TE, body=CHUNKED_HELLO), 400, ps),
        Bad(
            "te_duplicate_other", _req(H, TE, b"Transfer-Encoding: x", body=CHUNKED_HELLO), 400, ps
        ),
        Bad("te_vertical_tab", _te(b"chunked\x0b"), 400, ps),
        Bad("te_form_feed", _te(b"\x0cchunked"), 400, ps),
        Bad("te_nul", _te(b"chunked\x00"), 400, garden),
        Bad(
            "te_space_before_colon",
            _req(H, b"Transfer-Encoding : chunked", body=CHUNKED_HELLO),
            400,
            ps,
        ),
        Bad(
            "te_tab_before_colon",
            _req(H, b"Transfer-Encoding\t: chunked", body=CHUNKED_HELLO),
            400,
            ps,
        ),
        Bad(
            "te_line_folded",
            _req(H, b"Transfer-Encoding:", b" chunked", body=CHUNKED_HELLO),
            400,
            ps,
        ),
        Bad("te_trailing_whitespace", _te(b"chunked \t"), 400, garden),
        Bad("te_quoted", _te(b'"chunked"'), 400, ps),
        Bad("te_xchunked", _te(b"xchunked"), 400, ps),
        Bad("te_chunk", _te(b"chunk"), 400, ps),
        Bad("te_trailing_comma", _te(b"chunked,"), 400, garden),
        Bad("te_leading_comma", _te(b", chunked"), 400, garden),
        Bad("te_empty", _req(H, b"Transfer-Encoding:", body=b"hello"), 400, garden),
        Bad("te_with_params", _te(b"chunked;q=1"), 400, garden),
        Bad(
            "te_non_ascii_name",
            _req(H, b"Transfer-Encoding\xff: chunked", body=CHUNKED_HELLO),
            400,
            garden,
        ),
        # -- line endings, folding, control characters
        Bad("bare_lf_everywhere", b"GET / HTTP/1.1\nHost: a.example\n\n", 400, rfc),
        Bad("bare_lf_request_line", b"GET / HTTP/1.1\nHost: a.example\r\n\r\n", 400, rfc),
        Bad("bare_lf_field_line", b"GET / HTTP/1.1\r\nHost: a.example\nX: y\r\n\r\n", 400, rfc),
        Bad("bare_lf_end_of_head", b"GET / HTTP/1.1\r\nHost: a.example\r\n\n", 400, garden),
        Bad("bare_cr_in_value", _get(H, b"X: a\rb"), 400, rfc),
        Bad("bare_cr_line_end", b"GET / HTTP/1.1\r\nHost: a.example\r\r\n\r\n", 400, garden),
        Bad("bare_lf_before_request", b"\nGET / HTTP/1.1\r\nHost: a.example\r\n\r\n", 400, garden),
        Bad("obs_fold_space", _get(H, b"X: a", b" b"), 400, rfc),
        Bad("obs_fold_tab", _get(H, b"X: a", b"\tb"), 400, rfc),
        Bad("whitespace_before_first_field", _get(b" " + H), 400, rfc),
        Bad("whitespace_only_line", _get(H, b" "), 400, garden),
        Bad("nul_in_value", _get(H, b"X: a\x00b"), 400, rfc),
        Bad("nul_in_name", _get(H, b"X\x00: b"), 400, rfc),
        Bad("nul_in_target", _get(H, start=b"GET /\x00 HTTP/1.1"), 400, rfc),
        Bad("ctl_in_value", _get(H, b"X: a\x01b"), 400, rfc),
        Bad("del_in_value", _get(H, b"X: a\x7fb"), 400, rfc),
        Bad("escape_in_value", _get(H, b"X: \x1b[31m"), 400, garden),
        Bad("ctl_in_target", _get(H, start=b"GET /\x01 HTTP/1.1"), 400, rfc),
        Bad("non_ascii_target", _get(H, start=b"GET /\xff HTTP/1.1"), 400, rfc),
        Bad("tab_in_target", _get(H, start=b"GET /a\tb HTTP/1.1"), 400, garden),
        # -- field names
        Bad("space_before_colon", b"GET / HTTP/1.1\r\nHost : a.example\r\n\r\n", 400, rfc),
        Bad("empty_name", _get(H, b": b"), 400, rfc),
        Bad("missing_colon", _get(H, b"X b"), 400, rfc),
        Bad("slash_in_name", _get(H, b"X/Y: b"), 400, rfc),
        Bad("at_in_name", _get(H, b"X@Y: b"), 400, rfc),
        Bad("brackets_in_name", _get(H, b"X[1]: b"), 400, rfc),
        Bad("quote_in_name", _get(H, b'"X": b'), 400, rfc),
        Bad("non_ascii_name", _get(H, b"X\xc3\xa9: b"), 400, rfc),
        # -- Host
        Bad("missing_host", _get(), 400, rfc),
        Bad("duplicate_host", _get(H, b"Host: b.example"), 400, rfc),
        Bad("duplicate_host_same", _get(H, H), 400, rfc),
        Bad("host_userinfo", _get(b"Host: user@a.example"), 400, garden),
        Bad("host_with_path", _get(b"Host: a.example/x"), 400, garden),
        Bad("host_with_space", _get(b"Host: a example"), 400, garden),
        Bad("host_bad_port", _get(b"Host: a.example:8o"), 400, garden),
        # -- request target
        Bad(
            "absolute_form_other_host",
            _get(H, start=b"GET http://b.example/x HTTP/1.1"),
            400,
            garden,
        ),
        Bad(
            "absolute_form_userinfo",
            _get(H, start=b"GET http://u@a.example/ HTTP/1.1"),
            400,
            garden,
        ),
        Bad("absolute_form_ftp", _get(H, start=b"GET ftp://a.example/ HTTP/1.1"), 400, rfc),
        Bad("absolute_form_no_authority", _get(H, start=b"GET http:///x HTTP/1.1"), 400, garden),
        Bad("relative_target", _get(H, start=b"GET a/b HTTP/1.1"), 400, rfc),
        Bad("asterisk_not_options", _get(H, start=b"GET * HTTP/1.1"), 400, rfc),
        Bad("fragment_in_target", _get(H, start=b"GET /a#frag HTTP/1.1"), 400, rfc),
        # -- request line
        Bad("double_space_after_method", _get(H, start=b"GET  / HTTP/1.1"), 400, garden),
        Bad("double_space_before_version", _get(H, start=b"GET /  HTTP/1.1"), 400, garden),
        Bad("trailing_space", _get(H, start=b"GET / HTTP/1.1 "), 400, garden),
        Bad("tab_separator", _get(H, start=b"GET\t/ HTTP/1.1"), 400, garden),
        Bad("http09_request_line", _get(H, start=b"GET /"), 400, rfc),
        Bad("lower_case_version", _get(H, start=b"GET / http/1.1"), 400, rfc),
        Bad("version_two_digit_minor", _get(H, start=b"GET / HTTP/1.10"), 400, garden),
        Bad("version_junk", _get(H, start=b"GET / HTTP/1.1x"), 400, garden),
        Bad("version_1_2", _get(H, start=b"GET / HTTP/1.2"), 505, rfc),
        Bad("version_2_0", _get(H, start=b"GET / HTTP/2.0"), 505, rfc),
        Bad("version_0_9", _get(H, start=b"GET / HTTP/0.9"), 505, rfc),
        Bad("version_3_0", _get(H, start=b"GET / HTTP/3.0"), 505, rfc),
        Bad("h2_preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505, rfc),
        Bad("method_bad_char", _get(H, start=b"G(T / HTTP/1.1"), 400, rfc),
        Bad("method_unknown", _get(H, start=b"FOO / HTTP/1.1"), 501, rfc),
        Bad("method_lower_case", _get(H, start=b"get / HTTP/1.1"), 501, rfc),
        Bad(
            "connect",
            _get(b"Host: a.example:443", start=b"CONNECT a.example:443 HTTP/1.1"),
            501,
            rfc,
        ),
        # -- hop-by-hop abuse and semantics
        Bad(
            "connection_names_cl",
            _req(H, b"Content-Length: 5", b"Connection: content-length", body=b"hello"),
            400,
            garden,
        ),
        Bad(
            "connection_names_te",
            _req(H, TE, b"Connection: close, Transfer-Encoding", body=CHUNKED_HELLO),
            400,
            garden,
        ),
        Bad("connection_names_host", _get(H, b"Connection: host"), 400, garden),
        Bad("expect_unknown", _get(H, b"Expect: 200-ok"), 417, rfc),
        Bad(
            "upgrade_with_body",
            _req(
                H,
                b"Connection: upgrade",
                b"Upgrade: websocket",
                b"Content-Length: 5",
                body=b"hello",
            ),
            400,
            garden,
        ),
        # -- chunked framing
        Bad(
            "chunk_size_17_digits",
            _chunked(b"00000000000000005\r\nhello\r\n0\r\n\r\n"),
            400,
            garden,
        ),
        Bad(
            "chunk_size_overflow", _chunked(b"10000000000000000\r\nhello\r\n0\r\n\r\n"), 400, garden
        ),
        Bad("chunk_size_leading_space", _chunked(b" 5\r\nhello\r\n0\r\n\r\n"), 400, garden),
        Bad("chunk_size_trailing_space", _chunked(b"5 \r\nhello\r\n0\r\n\r\n"), 400, garden),
        Bad("chunk_size_plus", _chunked(b"+5\r\nhello\r\n0\r\n\r\n"), 400, garden),
        Bad("chunk_size_0x", _chunked(b"0x5\r\nhello\r\n0\r\n\r\n"), 400, garden),
        Bad("chunk_size_empty", _chunked(b"\r\nhello\r\n0\r\n\r\n"), 400, garden),
        Bad("chunk_size_not_hex", _chunked(b"g\r\nhello\r\n0\r\n\r\n"), 400, ps),
        Bad("chunk_ext_space", _chunked(b"5 ;a=b\r\nhello\r\n0\r\n\r\n"), 400, garden),
        Bad("chunk_ext_nul", _chunked(b"5;a\x00\r\nhello\r\n0\r\n\r\n"), 400, garden),
        Bad("chunk_ext_no_name", _chunked(b"5;\r\nhello\r\n0\r\n\r\n"), 400, garden),
        Bad("chunk_ext_unterminated_quote", _chunked(b'5;a="b\r\nhello\r\n0\r\n\r\n'), 400, garden),
        Bad(
            "chunk_ext_too_long",
            _chunked(b"5;a=" + b"b" * 5000 + b"\r\nhello\r\n0\r\n\r\n"),
            400,
            garden,
        ),
        Bad("chunk_ext_bare_lf", _chunked(b"5;a\nhello\r\n0\r\n\r\n"), 400, garden),
        Bad("chunk_size_bare_lf", _chunked(b"5\nhello\r\n0\r\n\r\n"), 400, garden),
        # With no CRLF anywhere after it, a bare LF must be refused at once, not waited on.
        Bad("chunk_size_bare_lf_only", _chunked(b"5\nhello\n0\n\n"), 400, rfc),
        Bad("chunk_ext_bare_lf_only", _chunked(b"5;a=b\nhello\n0\n\n"), 400, rfc),
        Bad("chunk_last_bare_lf", _chunked(b"5\r\nhello\r\n0\n\n"), 400, rfc),
        Bad("chunk_size_bare_cr_only", _chunked(b"5\rhello\r0\r\r"), 400, rfc),
        Bad("chunk_data_no_crlf", _chunked(b"5\r\nhelloXX0\r\n\r\n"), 400, ps),
        Bad("chunk_data_bare_lf", _chunked(b"5\r\nhello\n0\r\n\r\n"), 400, garden),
        Bad("chunk_data_too_long", _chunked(b"3\r\nhello\r\n0\r\n\r\n"), 400, ps),
        Bad("trailer_nul", _chunked(b"0\r\nX: a\x00\r\n\r\n"), 400, garden),
        Bad("trailer_folded", _chunked(b"0\r\nX: a\r\n b\r\n\r\n"), 400, garden),
        Bad("trailer_bad_name", _chunked(b"0\r\nX Y: a\r\n\r\n"), 400, garden),
        Bad("trailer_bare_lf", _chunked(b"0\r\nX: a\n\n"), 400, rfc),
        Bad("trailer_end_bare_lf", _chunked(b"5\r\nhello\r\n0\r\n\n"), 400, rfc),
        # -- limits
        Bad("header_section_too_large", _get(H, b"X: " + b"a" * limits.max_header_bytes), 431, rfc),
        Bad(
            "too_many_fields",
            _get(H, *[b"X-%d: y" % i for i in range(limits.max_headers)]),
            431,
            rfc,
        ),
        Bad(
            "target_too_long",
            _get(H, start=b"GET /" + b"a" * limits.max_target_bytes + b" HTTP/1.1"),
            414,
            rfc,
        ),
    ]
    if limits.max_body_bytes:
        over = limits.max_body_bytes + 1
        cases += [
            Bad("content_length_over_limit", _req(H, b"Content-Length: %d" % over), 413, rfc),
            Bad("chunk_over_limit", _chunked(b"%x\r\n" % over), 413, rfc),
            Bad(
                "chunks_add_up_over_limit",
                _chunked(
                    b"".join(b"%x\r\n%s\r\n" % (over // 2, b"a" * (over // 2)) for _ in range(3))
                ),
                413,
                rfc,
            ),
        ]
    return cases


Expected = tuple[tuple[bytes, bytes, bytes, bytes], ...]


def _one(
    method: bytes, target: bytes = b"/", body: bytes = b"", host: bytes = b"a.example"
) -> Expected:
    return ((method, target, host, body),)


def valid(limits: H1Limits = LIMITS) -> list[Good]:
    big = b"x" * (limits.max_body_bytes or 100_000)
    return [
        Good("tab_in_value", _get(H, b"X: a\tb"), _one(b"GET")),
        Good("empty_value", _get(H, b"X:", b"Y: "), _one(b"GET")),
        Good("obs_text_value", _get(H, b"X: caf\xc3\xa9"), _one(b"GET")),
        Good("te_capitalized", _te(b"Chunked"), _one(b"POST", body=b"hello")),
        Good("te_upper_case", _te(b"CHUNKED"), _one(b"POST", body=b"hello")),
        Good("te_leading_ows", _te(b" \t chunked"), _one(b"POST", body=b"hello")),
        Good(
            "chunk_extensions",
            _chunked(b'5;a=b;c;d="x \\" y"\r\nhello\r\n0;z\r\n\r\n'),
            _one(b"POST", body=b"hello"),
        ),
        Good(
            "chunk_size_hex_cases",
            _chunked(b"A\r\n0123456789\r\na\r\n0123456789\r\n0\r\n\r\n"),
            _one(b"POST", body=b"0123456789" * 2),
        ),
        Good(
            "chunk_size_leading_zeros",
            _chunked(b"0005\r\nhello\r\n0000\r\n\r\n"),
            _one(b"POST", body=b"hello"),
        ),
        Good(
            "chunk_trailers_dropped",
            _chunked(b"5\r\nhello\r\n0\r\nX-Sum: 1\r\nY: 2\r\n\r\n"),
            _one(b"POST", body=b"hello"),
        ),
        Good("empty_chunked_body", _chunked(b"0\r\n\r\n"), _one(b"POST")),
        Good("content_length_zero", _req(H, b"Content-Length: 0"), _one(b"POST")),
        Good(
            "content_length_leading_zeros",
            _req(H, b"Content-Length: 005", body=b"hello"),
            _one(b"POST", body=b"hello"),
        ),
        Good(
            "content_length_ows",
            _req(H, b"Content-Length:  5 ", body=b"hello"),
            _one(b"POST", body=b"hello"),
        ),
        Good(
            "pipelined",
            _get(H, start=b"GET /1 HTTP/1.1")
            + _req(H, b"Content-Length: 2", body=b"hi", start=b"POST /2 HTTP/1.1")
            + _get(H, start=b"GET /3 HTTP/1.1"),
            (
                (b"GET", b"/1", b"a.example", b""),
                (b"POST", b"/2", b"a.example", b"hi"),
                (b"GET", b"/3", b"a.example", b""),
            ),
        ),
        Good("http10_without_host", _get(start=b"GET / HTTP/1.0"), _one(b"GET", host=b"")),
        Good("options_asterisk", _get(H, start=b"OPTIONS * HTTP/1.1"), _one(b"OPTIONS", b"*")),
        Good(
            "large_allowed_body",
            _req(H, b"Content-Length: %d" % len(big), body=big),
            _one(b"POST", body=big),
        ),
        Good(
            "absolute_form_same_host",
            _get(H, start=b"GET http://a.example/x?y HTTP/1.1"),
            _one(b"GET", b"/x?y"),
        ),
        Good(
            "absolute_form_case_and_query",
            _get(H, start=b"GET HTTP://A.EXAMPLE?q HTTP/1.1"),
            _one(b"GET", b"/?q", host=b"A.EXAMPLE"),
        ),
        Good("leading_empty_lines", b"\r\n\r\n" + _get(H), _one(b"GET")),
        Good("host_ipv6_port", _get(b"Host: [::1]:8080"), _one(b"GET", host=b"[::1]:8080")),
        Good("all_tchars_in_name", _get(H, b"X-!#$%&'*+.^_`|~: v"), _one(b"GET")),
        Good(
            "query_with_odd_chars",
            _get(H, start=b"GET /p?a=|{}^&b=%20 HTTP/1.1"),
            _one(b"GET", b"/p?a=|{}^&b=%20"),
        ),
        Good(
            "expect_continue",
            _req(H, b"Expect: 100-continue", b"Content-Length: 2", body=b"ok"),
            _one(b"POST", body=b"ok"),
        ),
        Good("methods_webdav", _get(H, start=b"PROPFIND / HTTP/1.1"), _one(b"PROPFIND")),
        Good(
            "long_value_within_limits",
            _get(H, b"Cookie: " + b"c" * (limits.max_header_bytes // 2)),
            _one(b"GET"),
        ),
        Good(
            "max_fields_exactly",
            _get(H, *[b"X-%d: y" % i for i in range(limits.max_headers - 1)]),
            _one(b"GET"),
        ),
    ]
