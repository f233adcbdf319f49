"""Every codec test runs against both codecs, and reads what the parser did from a recorder."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest

from meshlb.protocol import (
    CODECS,
    RequestParser,
    ResponseParser,
    make_request_parser,
    make_response_parser,
)
from meshlb.protocol.messages import H1Limits, RequestHead, ResponseHead

Event = tuple[Any, ...]


class Recorder:
    """A RequestSink and ResponseSink that writes down every call, bodies joined per message."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    # requests
    def on_request_head(self, head: RequestHead) -> None:
        self.events.append(("head", head))

    def on_request_body(self, data: bytes) -> None:
        self._body(data)

    def on_request_end(self) -> None:
        self.events.append(("end",))

    def on_request_error(self, status: int, reason: str) -> None:
        self.events.append(("error", status, reason))

    # responses
    def on_response_head(self, head: ResponseHead) -> None:
        self.events.append(("head", head))

    def on_response_informational(self, head: ResponseHead) -> None:
        self.events.append(("info", head))

    def on_response_body(self, data: bytes) -> None:
        self._body(data)

    def on_response_end(self) -> None:
        self.events.append(("end",))

    def on_response_error(self, reason: str) -> None:
        self.events.append(("error", 502, reason))

    def _body(self, data: bytes) -> None:
        assert data, "empty body events are noise"
        if self.events and self.events[-1][0] == "body":
            self.events[-1] = ("body", self.events[-1][1] + data)
        else:
            self.events.append(("body", data))

    # reading
    @property
    def kinds(self) -> list[str]:
        return [event[0] for event in self.events]

    @property
    def heads(self) -> list[Any]:
        return [event[1] for event in self.events if event[0] == "head"]

    @property
    def bodies(self) -> list[bytes]:
        """One body per completed message (b"" when it had none)."""
        out, current = [], b""
        for event in self.events:
            if event[0] == "body":
                current += event[1]
            elif event[0] == "end":
                out.append(current)
                current = b""
        return out

    @property
    def error(self) -> int | None:
        statuses = [event[1] for event in self.events if event[0] == "error"]
        assert len(statuses) <= 1, "a parser reports at most one error"
        return statuses[0] if statuses else None

    def summary(self) -> list[Event]:
        """Events with heads flattened to comparable tuples (for differential tests)."""
        return [
            (kind, describe(event[1])) if kind in ("head", "info") else event[:2]
            for event in self.events
            for kind in [event[0]]
        ]


def describe(head: RequestHead | ResponseHead) -> tuple[Any, ...]:
    """Every field but the verbatim lines, which a codec may or may not give; `headers`
    through its property, so that a list read from `raw` compares with a parsed one."""
    names = [n for n in type(head).__struct_fields__ if n not in ("_headers", "raw")]
    return (*(getattr(head, name) for name in names), head.headers)


@pytest.fixture(params=CODECS)
def codec(request: pytest.FixtureRequest) -> str:
    return str(request.param)


RequestFactory = Callable[..., tuple[RequestParser, Recorder]]
ResponseFactory = Callable[..., tuple[ResponseParser, Recorder]]


@pytest.fixture
def request_parser(codec: str) -> RequestFactory:
    def make(limits: H1Limits | None = None) -> tuple[RequestParser, Recorder]:
        recorder = Recorder()
        return make_request_parser(codec, recorder, limits or H1Limits()), recorder

    return make


@pytest.fixture
def response_parser(codec: str) -> ResponseFactory:
    def make(limits: H1Limits | None = None) -> tuple[ResponseParser, Recorder]:
        recorder = Recorder()
        return make_response_parser(codec, recorder, limits or H1Limits()), recorder

    return make


def feed_all(parser: RequestParser | ResponseParser, pieces: Iterable[bytes]) -> None:
    for piece in pieces:
        parser.feed(piece)


def bytewise(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]
