"""What is particular to each codec: the llhttp parser's life cycle, the h11 second opinion."""

from __future__ import annotations

import h11
import pytest

from meshlb.protocol import make_request_parser, make_response_parser
from meshlb.protocol.h11codec import H11RequestParser
from meshlb.protocol.llhttp import LlhttpRequestParser, LlhttpResponseParser
from meshlb.protocol.messages import H1Limits

from .conftest import Recorder

GET = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"


def test_llhttp_parser_is_kept_across_requests_without_body() -> None:
    parser = make_request_parser("llhttp", Recorder(), H1Limits())
    assert isinstance(parser, LlhttpRequestParser)
    first = parser._llhttp
    parser.feed(GET * 3)
    assert parser._llhttp is first


def test_llhttp_parser_is_replaced_after_a_body_it_did_not_see() -> None:
    recorder = Recorder()
    parser = make_request_parser("llhttp", recorder, H1Limits())
    assert isinstance(parser, LlhttpRequestParser)
    parser.feed(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc" + GET)
    assert recorder.kinds == ["head", "body", "end", "head", "end"]
    assert parser._llhttp is not None


@pytest.mark.parametrize("method", [b"HEAD", b"GET"])
def test_llhttp_response_parser_survives_bodies_it_did_not_frame(method: bytes) -> None:
    recorder = Recorder()
    parser = make_response_parser("llhttp", recorder, H1Limits())
    assert isinstance(parser, LlhttpResponseParser)
    for _ in range(3):
        parser.expect(method)
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n" + (b"" if method == b"HEAD" else b"ok")
    parser.feed(ok * 3)
    per_response = ["head", "body", "end"] if method == b"GET" else ["head", "end"]
    assert recorder.kinds == per_response * 3


def test_llhttp_refusal_is_explained_by_our_rules() -> None:
    # llhttp says "Invalid HTTP version" / "Invalid method"; the status comes from validate.py.
    for raw, status in [
        (b"GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505),
        (b"BREW / HTTP/1.1\r\nHost: a\r\n\r\n", 501),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX: \x01\r\n\r\n", 400),
    ]:
        recorder = Recorder()
        make_request_parser("llhttp", recorder, H1Limits()).feed(raw)
        assert recorder.error == status, raw


def test_h11_is_consulted_on_every_head(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: h11.Connection) -> object:
        raise h11.RemoteProtocolError("refused for the test")

    monkeypatch.setattr(h11.Connection, "next_event", refuse)
    recorder = Recorder()
    parser = make_request_parser("h11", recorder, H1Limits())
    assert isinstance(parser, H11RequestParser)
    parser.feed(GET)
    assert recorder.events == [("error", 400, "h11: refused for the test")]
    recorder = Recorder()
    response_parser = make_response_parser("h11", recorder, H1Limits())
    response_parser.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    assert recorder.error == 502
