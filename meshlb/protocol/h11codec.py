"""The reference codec: heads read by our own rules and cross-checked by h11.

h11 is the well-known strict-enough Python parser, but it normalizes before anyone can look:
it merges duplicate Content-Length fields and `5, 5` lists into one value, and unfolds
obs-fold. Our rules must see those, so this codec reads the fields itself from the raw head
(`parse_request_head`: every S and M rule in validate.py) and then asks h11 for a second
opinion on the same bytes; a head h11 refuses is refused. Bodies are framed by body.py as for
the llhttp codec. Each head gets a fresh h11.Connection, which is slow but simple: this codec
is the reference the fast one is tested against, not the hot path.
"""

from __future__ import annotations

import h11

from .heads import (
    RequestHeadBuilder,
    ResponseHeadBuilder,
    parse_request_head,
    parse_response_head,
)
from .messages import H1Limits, RequestHead, RequestSink, ResponseHead, ResponseSink
from .reader import RequestReader, ResponseReader
from .validate import ProtocolError

# h11 lets a client read a response only after it sent a request. This one allows every
# response shape: any status, a body or not (our reader decides), and a 101.
_PROBE_REQUEST = h11.Request(
    method="GET",
    target="/",
    headers=[("Host", "upstream"), ("Connection", "upgrade"), ("Upgrade", "probe")],
)


class H11RequestParser(RequestReader):
    __slots__ = ("_builder",)

    def __init__(self, sink: RequestSink, limits: H1Limits) -> None:
        super().__init__(sink, limits)
        self._builder = RequestHeadBuilder(limits)

    def _parse_head(self, head: bytes) -> RequestHead:
        result = parse_request_head(head, self._builder)
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=len(head) + 1)
        conn.receive_data(head)
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError as exc:
            raise ProtocolError(400, f"h11: {exc}") from None
        if type(event) is not h11.Request:
            raise ProtocolError(400, f"h11: unexpected {type(event).__name__}")
        return result


class H11ResponseParser(ResponseReader):
    __slots__ = ("_builder",)

    def __init__(self, sink: ResponseSink, limits: H1Limits) -> None:
        super().__init__(sink, limits)
        self._builder = ResponseHeadBuilder(limits)

    def _parse_head(self, head: bytes) -> ResponseHead:
        result = parse_response_head(head, self._builder)
        conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=len(head) + 1)
        conn.send(_PROBE_REQUEST)
        conn.send(h11.EndOfMessage())
        conn.receive_data(head)
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError as exc:
            raise ProtocolError(502, f"h11: {exc}") from None
        if type(event) not in (h11.Response, h11.InformationalResponse):
            raise ProtocolError(502, f"h11: unexpected {type(event).__name__}")
        return result
