"""The HTTP/2 connection, joined to an in-memory h2 server through a fake transport."""

from __future__ import annotations

from h2.config import H2Configuration
from h2.connection import H2Connection as H2State
from h2.errors import ErrorCodes
from h2.events import RemoteSettingsChanged, RequestReceived
from h2.settings import SettingCodes, Settings
from hyperframe.frame import GoAwayFrame

from meshlb.bench.h2 import WINDOW, H2Connection
from meshlb.bench.results import ErrorKind
from tests.bench.fakes import FakeLoop, FakeTransport, make_context, status_counts

HEADERS = [(b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"t"), (b":path", b"/")]


class Link:
    """A client connection and a server state machine wired back to back."""

    def __init__(
        self,
        streams: int = 2,
        remaining: int = 10,
        by_header: bytes | None = None,
        server_max_streams: int | None = None,
    ) -> None:
        self.ctx, self.idle, _ = make_context(by_header=by_header, http2=True)
        self.ctx.remaining = remaining
        self.client = H2Connection(self.ctx, 0, HEADERS, b"", streams)
        self.transport = FakeTransport()
        self.server = H2State(H2Configuration(client_side=False, header_encoding=None))
        if server_max_streams is not None:
            self.server.local_settings = Settings(
                client=False,
                initial_values={SettingCodes.MAX_CONCURRENT_STREAMS: server_max_streams},
            )
        self.client.connection_made(self.transport)  # type: ignore[arg-type]
        self.server.initiate_connection()
        self.requests: list[int] = []

    def to_server(self) -> None:
        for event in self.server.receive_data(self.transport.take()):
            if isinstance(event, RequestReceived):
                self.requests.append(event.stream_id)

    def to_client(self) -> None:
        self.client.data_received(self.server.data_to_send())

    def answer(
        self, stream_id: int, status: bytes = b"200", extra: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        self.requests.remove(stream_id)
        self.server.send_headers(stream_id, [(b":status", status), *(extra or [])])
        self.server.send_data(stream_id, b"hello", end_stream=True)


def test_our_settings_refuse_push_and_open_a_large_window() -> None:
    link = Link()
    [settings] = [
        event
        for event in link.server.receive_data(link.transport.take())
        if isinstance(event, RemoteSettingsChanged)
    ]
    changed = settings.changed_settings
    assert changed[SettingCodes.ENABLE_PUSH].new_value == 0
    assert changed[SettingCodes.INITIAL_WINDOW_SIZE].new_value == WINDOW


def test_streams_open_only_after_the_servers_settings() -> None:
    link = Link(streams=3)
    link.to_server()
    assert link.requests == []  # the preface alone: no stream before SETTINGS arrive
    link.to_client()
    link.to_server()
    assert link.requests == [1, 3, 5] and link.ctx.remaining == 7


def test_a_finished_stream_is_counted_and_replaced() -> None:
    link = Link(streams=2, remaining=3)
    link.to_server()
    link.to_client()
    link.to_server()
    link.answer(1, b"404")
    link.to_client()
    recorder = link.ctx.recorder
    assert status_counts(recorder) == {404: 1}
    link.to_server()
    assert link.requests == [3, 5] and link.ctx.remaining == 0


def test_the_budget_ends_with_an_idle_report_once_every_stream_is_done() -> None:
    link = Link(streams=2, remaining=2)
    link.to_server()
    link.to_client()
    link.to_server()
    link.answer(1)
    link.to_client()
    assert link.idle == []
    link.answer(3)
    link.to_client()
    assert link.idle == [link.client] and link.client.inflight() == 0


def test_the_servers_stream_limit_is_respected() -> None:
    link = Link(streams=10, server_max_streams=2)
    link.to_server()
    link.to_client()
    link.to_server()
    assert len(link.requests) == 2


def test_by_header_reads_the_response_headers() -> None:
    link = Link(streams=2, by_header=b"x-upstream")
    link.to_server()
    link.to_client()
    link.to_server()
    link.answer(1, extra=[(b"x-upstream", b"b1")])
    link.answer(3)
    link.to_client()
    assert link.ctx.recorder.header_counts == {"b1": 1, "(none)": 1}


def test_a_refused_stream_is_sent_again_not_counted() -> None:
    link = Link(streams=1, remaining=5)
    link.to_server()
    link.to_client()
    link.to_server()
    link.server.reset_stream(1, error_code=ErrorCodes.REFUSED_STREAM)
    link.requests.remove(1)
    link.to_client()
    assert sum(link.ctx.recorder.errors) == 0
    link.to_server()
    assert link.requests == [3] and link.ctx.remaining == 4


def test_a_reset_stream_is_an_error_and_its_slot_is_reused() -> None:
    link = Link(streams=1, remaining=5)
    link.to_server()
    link.to_client()
    link.to_server()
    link.server.reset_stream(1)
    link.requests.remove(1)
    link.to_client()
    assert link.ctx.recorder.errors[ErrorKind.RESET] == 1
    link.to_server()
    assert link.requests == [3]


def goaway(last_stream_id: int, error_code: int = 0) -> bytes:
    frame = GoAwayFrame(0)
    frame.last_stream_id, frame.error_code = last_stream_id, error_code
    return bytes(frame.serialize())


def test_a_graceful_goaway_drains_the_streams_it_covers_then_closes() -> None:
    link = Link(streams=3)
    link.to_server()
    link.to_client()
    link.to_server()
    # As nginx does at keepalive_requests: GOAWAY first, then the last answers.
    link.answer(1)
    link.client.data_received(goaway(last_stream_id=3) + link.server.data_to_send())
    # Stream 5 was above last_stream_id, never processed: its request goes back to the budget
    # (not an error); stream 3 is still coming.
    assert sum(link.ctx.recorder.errors) == 0 and link.ctx.remaining == 8
    assert link.client.inflight() == 1 and not link.transport.closed
    link.to_server()
    assert link.requests == [3, 5]  # nothing new was opened on the draining connection
    link.answer(3)
    link.to_client()
    assert link.transport.closed and status_counts(link.ctx.recorder) == {200: 2}


def test_a_goaway_with_an_error_closes_at_once() -> None:
    link = Link(streams=2)
    link.to_server()
    link.to_client()
    link.client.data_received(goaway(last_stream_id=3, error_code=2))
    assert link.transport.closed
    link.client.connection_lost(None)
    assert link.ctx.recorder.errors[ErrorKind.RESET] == 2


def test_a_stream_past_the_timeout_is_cancelled_and_replaced() -> None:
    link = Link(streams=1, remaining=5)
    link.to_server()
    link.to_client()
    link.to_server()
    link.client.check_timeout(now_ns=10**18, timeout_ns=1)
    assert link.ctx.recorder.errors[ErrorKind.TIMEOUT] == 1
    link.to_server()
    assert link.requests == [1, 3]  # stream 1 was reset by the client; 3 replaces it


def test_a_peer_that_is_not_http2_is_a_failed_connect() -> None:
    link = Link()
    link.client.data_received(b"HTTP/1.1 400 Bad Request\r\n\r\n" + b"\0" * 64)
    link.client.connection_lost(None)
    assert sum(link.ctx.recorder.errors) == 1 and link.ctx.remaining == 9
    loop = link.ctx.loop
    assert isinstance(loop, FakeLoop) and len(loop.timers) == 1  # retried after a pause
