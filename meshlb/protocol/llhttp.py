"""The hot-path codec: heads tokenized by llhttp (httptools), checked by our rules.

Heads of the common shapes are recognized by fastpath.py without llhttp or a per-field
call; every other head goes to llhttp. llhttp gets exactly one complete head per call
(reader.py finds it), with our head builder as its only callback object: each field line
costs one Python call, `on_header`, and no other callback is registered. In its default
strict mode llhttp rejects bare CR/LF, obs-fold, control characters and non-token names
before we see a field (S1-S4 in validate.py); the start line is split and checked by us
because llhttp accepts extra spaces and HTTP/0.9 there. The body never reaches llhttp
(body.py frames it), so after a head with a body llhttp is left waiting for it and is
replaced before the next head.

When llhttp rejects a head, `parse_request_head` re-reads it with our own rules to pick the
status, so that both codecs answer the same input with the same code.
"""

from __future__ import annotations

from httptools import (
    HttpParserError,
    HttpParserUpgrade,
    HttpRequestParser,
    HttpResponseParser,
)

from .fastpath import fast_request_head, scan_response
from .heads import (
    RequestHeadBuilder,
    ResponseHeadBuilder,
    parse_request_head,
    parse_response_head,
)
from .messages import H1Limits, RequestHead, RequestSink, ResponseHead, ResponseSink
from .reader import RequestReader, ResponseReader
from .validate import (
    KNOWN_METHODS,
    VCHAR,
    VERSIONS,
    ProtocolError,
    parse_request_line,
    parse_status_line,
)

_LINE_ENDS = {version + b"\r\n": value for version, value in VERSIONS.items()}


class LlhttpRequestParser(RequestReader):
    __slots__ = ("_builder", "_llhttp")

    def __init__(self, sink: RequestSink, limits: H1Limits) -> None:
        super().__init__(sink, limits, fast_request_head)
        self._builder = RequestHeadBuilder(limits)
        self._llhttp: HttpRequestParser | None = HttpRequestParser(self._builder)

    def _parse_head(self, head: bytes) -> RequestHead:
        common = self._recognize(head)
        if common is not None:
            return common
        # parse_request_line's fast path, inlined and without cutting the line out first:
        # "METHOD SP target SP HTTP/1.x CRLF" with a known method and a VCHAR target.
        # Anything else takes the slow path, which names the fault or parses the odd line.
        parts = head.split(b" ", 2)
        version = _LINE_ENDS.get(parts[2][:10]) if len(parts) == 3 else None
        if (
            version is not None
            and parts[0] in KNOWN_METHODS
            and 0 < len(parts[1]) <= self.limits.max_target_bytes
            and parts[1].translate(VCHAR).isascii()
        ):
            method, target = parts[0], parts[1]
        else:
            method, target, version = parse_request_line(head[: head.find(b"\r\n")], self.limits)
        llhttp = self._llhttp
        if llhttp is None:
            llhttp = self._llhttp = HttpRequestParser(self._builder)
        try:
            llhttp.feed_data(head)
        except HttpParserUpgrade:
            self._llhttp = None  # llhttp stopped at the end of an upgrade head
        except HttpParserError as exc:
            self._llhttp = None
            raise _explain(exc, head, self._builder) from None
        result = self._builder.finish(method, target, version, head)
        if result.chunked or result.content_length:
            self._llhttp = None
        return result


def _explain(exc: Exception, head: bytes, builder: RequestHeadBuilder) -> ProtocolError:
    builder.reset()
    try:
        parse_request_head(head, builder)
    except ProtocolError as ours:
        return ours
    return ProtocolError(400, f"malformed head: {exc}")


class LlhttpResponseParser(ResponseReader):
    __slots__ = ("_builder", "_llhttp")

    def __init__(self, sink: ResponseSink, limits: H1Limits) -> None:
        super().__init__(sink, limits, scan_response)
        self._builder = ResponseHeadBuilder(limits)
        self._llhttp: HttpResponseParser | None = HttpResponseParser(self._builder)

    def _parse_head(self, head: bytes) -> ResponseHead:
        common = self._recognize(head)
        if common is not None:
            return common
        version, status, reason = parse_status_line(head[: head.find(b"\r\n")])
        llhttp = self._llhttp
        if llhttp is None:
            llhttp = self._llhttp = HttpResponseParser(self._builder)
        try:
            llhttp.feed_data(head)
        except HttpParserUpgrade:
            self._llhttp = None
        except HttpParserError as exc:
            self._llhttp = None
            self._builder.reset()
            try:
                parse_response_head(head, self._builder)
            except ProtocolError as ours:
                raise ours from None
            raise ProtocolError(502, f"malformed response head: {exc}") from None
        result = self._builder.finish(status, reason, version, head)
        # llhttp completes 1xx, 204, 304 and zero-length responses by itself; for any other
        # response (and for every response to HEAD, which llhttp cannot know) it now waits
        # for a body it will never see.
        if not (status < 200 or status == 204 or status == 304 or _empty(result)):
            self._llhttp = None
        return result


def _empty(head: ResponseHead) -> bool:
    return head.content_length == 0 and not head.chunked
