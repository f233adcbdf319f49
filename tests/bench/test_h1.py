"""The HTTP/1.1 connection, on a fake transport and a fake clock."""

from __future__ import annotations

import pytest

from meshlb.bench import h1
from meshlb.bench.dispatch import OpenDispatcher
from meshlb.bench.h1 import H1Connection
from meshlb.bench.histogram import Histogram, bucket_index
from meshlb.bench.recorder import Recorder
from meshlb.bench.results import ErrorKind
from meshlb.bench.schedule import RateSchedule
from tests.bench.fakes import FakeLoop, FakeTransport, make_context, status_counts

REQUEST = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000_000

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(h1, "perf_counter_ns", fake)
    monkeypatch.setattr("meshlb.bench.connection.perf_counter_ns", fake)
    return fake


def opened(
    remaining: int = 10, head: bool = False, by_header: bytes | None = None, budgeted: bool = True
) -> tuple[H1Connection, FakeTransport, list[object]]:
    ctx, idle, _ = make_context(by_header=by_header)
    ctx.remaining = remaining
    ctx.budgeted = budgeted
    connection = H1Connection(ctx, 0, REQUEST, head)
    transport = FakeTransport()
    connection.connection_made(transport)  # type: ignore[arg-type]
    return connection, transport, idle


def test_each_response_sends_the_next_request_from_the_callback(clock: Clock) -> None:
    connection, transport, _ = opened(remaining=3)
    assert transport.writes == [REQUEST] and connection.ctx.remaining == 2
    clock.now += 20_000_000
    connection.data_received(OK)
    assert transport.writes == [REQUEST, REQUEST] and connection.ctx.remaining == 1
    recorder = connection.ctx.recorder
    assert recorder.latency[bucket_index(20_000_000)] == 1  # the inlined index is the same
    assert status_counts(recorder) == {200: 1} and connection.rx_bytes == len(OK)


def test_without_a_budget_responses_are_recorded_the_same(clock: Clock) -> None:
    connection, transport, _ = opened(budgeted=False)
    clock.now += 3_000_000
    connection.data_received(OK)
    connection.data_received(OK.replace(b"200 OK", b"503 Busy"))
    recorder = connection.ctx.recorder
    assert recorder.latency[bucket_index(3_000_000)] == 1
    assert status_counts(recorder) == {200: 1, 503: 1}
    assert len(transport.writes) == 3 and connection.ctx.remaining == 9


def test_one_clock_reading_ends_one_request_and_starts_the_next(clock: Clock) -> None:
    connection, _, _ = opened()
    clock.now += 5_000_000
    connection.data_received(OK)
    clock.now += 7_000_000
    connection.data_received(OK)
    hist = Histogram(list(connection.ctx.recorder.latency))
    assert hist.sparse() == [(bucket_index(5_000_000), 1), (bucket_index(7_000_000), 1)]


def test_responses_split_across_reads_and_chunked_bodies(clock: Clock) -> None:
    connection, transport, _ = opened()
    for piece in (
        b"HTTP/1.1 200 OK\r\nTransfer-",
        b"Encoding: chunked\r\n\r\n5\r\nhel",
        b"lo\r\n0\r\n\r\n",
    ):
        connection.data_received(piece)
    assert status_counts(connection.ctx.recorder) == {200: 1} and len(transport.writes) == 2


def test_an_interim_1xx_response_is_not_the_answer(clock: Clock) -> None:
    connection, transport, _ = opened()
    connection.data_received(b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n")
    assert len(transport.writes) == 1 and sum(connection.ctx.recorder.latency) == 0
    connection.data_received(OK)
    assert status_counts(connection.ctx.recorder) == {200: 1}


def test_a_spent_budget_reports_the_connection_idle(clock: Clock) -> None:
    connection, transport, idle = opened(remaining=1)
    connection.data_received(OK)
    assert idle == [connection] and len(transport.writes) == 1
    assert connection.inflight() == 0


def test_connection_close_closes_and_reopens(clock: Clock) -> None:
    connection, transport, _ = opened()
    connection.data_received(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
    assert transport.closed and len(transport.writes) == 1
    connection.connection_lost(None)
    loop = connection.ctx.loop
    assert isinstance(loop, FakeLoop) and loop.tasks == 1  # a new connect is under way
    assert connection.ctx.recorder.errors == [0, 0, 0, 0]


def test_an_unparsable_response_is_a_protocol_error_counted_once(clock: Clock) -> None:
    connection, transport, _ = opened()
    connection.data_received(b"garbage\r\n\r\n")
    assert transport.aborted
    connection.connection_lost(None)
    assert connection.ctx.recorder.errors[ErrorKind.PROTOCOL] == 1
    assert sum(connection.ctx.recorder.errors) == 1


def test_a_connection_lost_mid_request_is_a_reset(clock: Clock) -> None:
    connection, _, _ = opened()
    connection.connection_lost(ConnectionResetError())
    assert connection.ctx.recorder.errors[ErrorKind.RESET] == 1


def test_a_late_response_times_out(clock: Clock) -> None:
    connection, transport, _ = opened()
    connection.check_timeout(clock.now + 1_000, timeout_ns=10_000)
    assert not transport.aborted
    connection.check_timeout(clock.now + 20_000, timeout_ns=10_000)
    assert transport.aborted
    connection.connection_lost(None)
    assert connection.ctx.recorder.errors == [0, 1, 0, 0]


def test_a_failed_connect_costs_one_request_and_retries(clock: Clock) -> None:
    ctx, idle, _ = make_context()
    ctx.remaining = 2
    connection = H1Connection(ctx, 0, REQUEST, False)
    connection._connect_failed(ErrorKind.CONNECT)
    assert ctx.remaining == 1 and ctx.recorder.errors[ErrorKind.CONNECT] == 1
    loop = ctx.loop
    assert isinstance(loop, FakeLoop) and len(loop.timers) == 1
    ctx.remaining = 0
    connection._connect_failed(ErrorKind.CONNECT)
    assert idle == [connection] and ctx.recorder.errors[ErrorKind.CONNECT] == 1


def test_by_header_counts_each_value_and_missing_ones(clock: Clock) -> None:
    connection, _, _ = opened(by_header=b"x-upstream")
    connection.data_received(b"HTTP/1.1 200 OK\r\nX-Upstream: a\r\nContent-Length: 0\r\n\r\n")
    connection.data_received(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    connection.data_received(b"HTTP/1.1 200 OK\r\nx-upstream: a\r\nContent-Length: 0\r\n\r\n")
    assert connection.ctx.recorder.header_counts == {"a": 2, "(none)": 1}


def test_head_responses_are_framed_without_a_body(clock: Clock) -> None:
    connection, transport, _ = opened(head=True)
    connection.data_received(b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n")
    assert status_counts(connection.ctx.recorder) == {200: 1} and len(transport.writes) == 2


def test_open_model_records_corrected_and_uncorrected_latency(clock: Clock) -> None:
    finished: list[bool] = []
    start = clock.now + 10_000_000
    recorder = Recorder()
    dispatcher = OpenDispatcher(
        RateSchedule(1000, start), 1, lambda: finished.append(True), recorder
    )
    ctx, _, _ = make_context(dispatcher=dispatcher, recorder=recorder)
    connection = H1Connection(ctx, 0, REQUEST, False)
    transport = FakeTransport()
    connection.connection_made(transport)  # type: ignore[arg-type]
    assert transport.writes == []  # nothing is due yet: the connection waits as a free slot
    clock.now = start + 3_000_000
    dispatcher.tick(clock.now)  # the tick ran 3 ms late
    assert transport.writes == [REQUEST]
    clock.now = start + 5_000_000
    connection.data_received(OK)
    assert ctx.recorder.latency[bucket_index(5_000_000)] == 1
    assert ctx.recorder.latency_uncorrected[bucket_index(2_000_000)] == 1
    assert ctx.recorder.send_lag[bucket_index(3_000_000)] == 1
    assert finished == [True]


def test_repr_shows_state_and_requests_in_flight(clock: Clock) -> None:
    connection, _, _ = opened()
    assert repr(connection) == "<H1Connection #0 open opened=1 inflight=1>"


class CountingParser:
    """Wraps the connection's parser to count what is actually parsed."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.feeds = 0

    def feed_data(self, data: bytes) -> None:
        self.feeds += 1
        self.inner.feed_data(data)  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


def counting(connection: H1Connection) -> CountingParser:
    spy = CountingParser(connection._parser)
    connection._parser = spy  # type: ignore[assignment]
    return spy


def test_the_same_bytes_again_are_replayed_without_parsing(clock: Clock) -> None:
    connection, transport, _ = opened(budgeted=False)
    spy = counting(connection)
    for step in (1_000_000, 2_000_000, 3_000_000):
        clock.now += step
        connection.data_received(bytes(OK))  # equal bytes, not the same object
    assert spy.feeds == 1
    recorder = connection.ctx.recorder
    assert [recorder.latency[bucket_index(ns)] for ns in (1_000_000, 2_000_000, 3_000_000)] == [
        1,
        1,
        1,
    ]
    assert status_counts(recorder) == {200: 3} and len(transport.writes) == 4


def test_other_bytes_are_parsed_and_become_the_ones_replayed(clock: Clock) -> None:
    connection, _, _ = opened(budgeted=False)
    spy = counting(connection)
    not_found = OK.replace(b"200 OK", b"404 No")
    for data in (OK, not_found, not_found, OK):
        connection.data_received(data)
    assert spy.feeds == 3  # the second 404 was replayed, with its own status
    assert status_counts(connection.ctx.recorder) == {200: 2, 404: 2}


def test_only_whole_single_keep_alive_responses_are_replayed(clock: Clock) -> None:
    connection, transport, _ = opened(budgeted=False)
    spy = counting(connection)
    head, tail = OK[:20], OK[20:]
    interim_and_final = b"HTTP/1.1 100 Continue\r\n\r\n" + OK
    closing = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    for data in (head, tail, head, tail, interim_and_final, interim_and_final, closing):
        connection.data_received(data)
    # A split response, two messages in one read, a closing response: all parsed every time.
    assert spy.feeds == 7
    assert transport.closed
    assert status_counts(connection.ctx.recorder) == {200: 5}


def test_a_new_connection_forgets_what_the_old_one_replayed(clock: Clock) -> None:
    connection, _, _ = opened(budgeted=False)
    connection.data_received(OK)
    connection.connection_lost(None)
    connection.connection_made(FakeTransport())  # type: ignore[arg-type]
    spy = counting(connection)
    connection.data_received(OK)
    assert spy.feeds == 1


def test_replay_stops_when_responses_keep_differing(clock: Clock) -> None:
    connection, _, _ = opened(budgeted=False)
    for number in range(h1.REPLAY_GIVE_UP):
        connection.data_received(OK.replace(b"ok", f"{number % 100:02d}".encode()))
    assert not hasattr(connection, "on_message_begin")
    spy = counting(connection)
    connection.data_received(OK)
    connection.data_received(OK)
    assert spy.feeds == 2
    assert status_counts(connection.ctx.recorder) == {200: h1.REPLAY_GIVE_UP + 2}


def test_by_header_counts_replayed_responses_too(clock: Clock) -> None:
    connection, _, _ = opened(by_header=b"x-upstream", budgeted=False)
    with_header = b"HTTP/1.1 200 OK\r\nX-Upstream: a\r\nContent-Length: 0\r\n\r\n"
    without = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    for data in (with_header, with_header, without, without, with_header):
        connection.data_received(data)
    assert connection.ctx.recorder.header_counts == {"a": 3, "(none)": 2}
