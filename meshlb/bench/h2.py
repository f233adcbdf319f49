"""HTTP/2 client connection: up to `streams` requests multiplexed on one connection.

Streams open once the server's first SETTINGS frame has arrived, so that its
SETTINGS_MAX_CONCURRENT_STREAMS is known and respected. Writes are batched: everything the
h2 state machine queues while handling one read is sent in one write. A graceful GOAWAY
(handled outside h2, see h2frames.py), or a connection running out of stream ids, drains the
connection: no new streams, and once the last one ends it is closed and reopened.
"""

from __future__ import annotations

from contextlib import suppress
from time import perf_counter_ns

from h2.config import H2Configuration
from h2.connection import H2Connection as H2State
from h2.errors import ErrorCodes
from h2.events import (
    DataReceived,
    RemoteSettingsChanged,
    ResponseReceived,
    StreamEnded,
    StreamReset,
    WindowUpdated,
)
from h2.exceptions import ProtocolError
from h2.settings import SettingCodes, Settings

from meshlb.bench.connection import Connection
from meshlb.bench.context import RunContext
from meshlb.bench.h2frames import GoAway, GoAwayFilter
from meshlb.bench.histogram import bucket_index
from meshlb.bench.results import ErrorKind

NO_HEADER = "(none)"
WINDOW = 16 * 1024 * 1024  # our receive window, per stream and for the connection
LAST_STREAM_ID = 2**31 - 1

# A stream in flight: [origin_ns, sent_ns, status, header value]
Stream = list[object]


class H2Connection(Connection):
    def __init__(
        self,
        ctx: RunContext,
        number: int,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        streams: int,
    ) -> None:
        super().__init__(ctx, number)
        self._headers = headers
        self._body = body
        self._max_streams = streams
        self._limit = 0  # streams allowed at once; 0 until the server's SETTINGS arrive
        self._h2: H2State | None = None
        self._streams: dict[int, Stream] = {}
        self._pending_bodies: dict[int, int] = {}  # stream id -> body bytes sent so far
        self._draining = False
        self._in_read = False
        self._frames = GoAwayFilter()
        self._rec = ctx.recorder

    def inflight(self) -> int:
        return len(self._streams)

    def can_send(self) -> bool:
        return (
            self.transport is not None
            and not self._draining
            and not self.ctx.stopping
            and len(self._streams) < self._limit
        )

    def _start(self, now_ns: int) -> None:
        # The request headers were checked once when built; h2's per-frame header validation
        # and normalisation would otherwise dominate the cost of a request.
        config = H2Configuration(
            client_side=True,
            header_encoding=None,
            validate_outbound_headers=False,
            normalize_outbound_headers=False,
            validate_inbound_headers=False,
            normalize_inbound_headers=False,
        )
        state = H2State(config=config)
        # Replaced rather than updated: initiate_connection sends the current values only,
        # and updates stay pending until the server acknowledges them.
        state.local_settings = Settings(
            client=True,
            initial_values={
                SettingCodes.ENABLE_PUSH: 0,
                SettingCodes.INITIAL_WINDOW_SIZE: WINDOW,
            },
        )
        state.initiate_connection()
        state.increment_flow_control_window(WINDOW)
        self._h2 = state
        self._frames = GoAwayFilter()
        self._streams = {}
        self._pending_bodies = {}
        self._draining = False
        self._limit = 0
        self._flush()

    def send(self, origin_ns: int, now_ns: int) -> None:
        state = self._h2
        assert state is not None
        stream_id = state.get_next_available_stream_id()
        if stream_id >= LAST_STREAM_ID - 2:
            self._draining = True
        state.send_headers(stream_id, self._headers, end_stream=not self._body)
        self._streams[stream_id] = [origin_ns, now_ns, 0, None]
        if self._body:
            self._send_body(stream_id, 0)
        if not self._in_read:
            self._flush()

    def _send_body(self, stream_id: int, offset: int) -> None:
        state = self._h2
        assert state is not None
        body = self._body
        while offset < len(body):
            size = min(
                state.local_flow_control_window(stream_id),
                state.max_outbound_frame_size,
                len(body) - offset,
            )
            if size <= 0:
                self._pending_bodies[stream_id] = offset
                return
            state.send_data(
                stream_id, body[offset : offset + size], end_stream=offset + size >= len(body)
            )
            offset += size
        self._pending_bodies.pop(stream_id, None)

    def _flush(self) -> None:
        data = self._h2.data_to_send() if self._h2 is not None else b""
        if data and self.transport is not None:
            self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        self.rx_bytes += len(data)
        now = perf_counter_ns()
        self._in_read = True
        try:
            for item in self._frames.feed(data):
                if isinstance(item, GoAway):
                    self._goaway(item)
                elif not self._receive(item, now):
                    return
        finally:
            self._in_read = False
        self._flush()
        if self._draining and not self._streams and self.transport is not None:
            self.transport.close()

    def _receive(self, data: bytes, now: int) -> bool:
        """Hand frames to h2 and act on its events; False if the connection broke."""
        state = self._h2
        if state is None:
            return False
        try:
            events = state.receive_data(data)
        except ProtocolError:
            self._abort(ErrorKind.PROTOCOL)
            return False
        for event in events:
            if isinstance(event, DataReceived):
                state.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, ResponseReceived):
                self._response(event)
            elif isinstance(event, StreamEnded):
                self._stream_ended(event.stream_id, now)
            elif isinstance(event, StreamReset):
                self._stream_reset(event.stream_id, event.error_code or 0, now)
            elif isinstance(event, RemoteSettingsChanged):
                self._settings_changed(now)
            elif isinstance(event, WindowUpdated):
                for stream_id, offset in list(self._pending_bodies.items()):
                    self._send_body(stream_id, offset)
        return True

    def _response(self, event: ResponseReceived) -> None:
        stream = self._streams.get(event.stream_id)
        if stream is None or event.headers is None:
            return
        want = self.ctx.by_header
        for name, value in event.headers:
            if name == b":status":
                stream[2] = int(value)
            elif name == want:
                stream[3] = bytes(value).decode("latin-1")

    def _stream_ended(self, stream_id: int, now: int) -> None:
        stream = self._streams.pop(stream_id, None)
        if stream is None:  # timed out and cancelled earlier
            return
        origin, sent, status, value = stream
        rec = self._rec
        assert isinstance(origin, int) and isinstance(sent, int) and isinstance(status, int)
        rec.latency[bucket_index(now - origin)] += 1
        ctx = self.ctx
        dispatcher = ctx.dispatcher
        if dispatcher is not None:
            rec.latency_uncorrected[bucket_index(now - sent)] += 1
        rec.count_status(status)
        if ctx.by_header is not None:
            rec.count_header(NO_HEADER if value is None else str(value))
        self._next(now)

    def _next(self, now: int) -> None:
        """A stream ended: reuse its slot."""
        ctx = self.ctx
        dispatcher = ctx.dispatcher
        if dispatcher is not None:
            if self.can_send():
                dispatcher.complete(self, now)
            else:
                dispatcher.drop_slot()
        elif ctx.remaining > 0 and self.can_send():
            ctx.remaining -= 1
            self.send(now, now)
        elif not self._streams and not self._wants_more():
            self._report_idle()

    def _stream_reset(self, stream_id: int, error_code: int, now: int) -> None:
        stream = self._streams.pop(stream_id, None)
        if stream is None:
            return
        self._pending_bodies.pop(stream_id, None)
        if error_code == ErrorCodes.REFUSED_STREAM:
            self._send_again(stream)
            self._next(now)
        else:
            self._rec.error(ErrorKind.RESET)
            self._next(now)

    def _send_again(self, stream: Stream) -> None:
        """The server refused the stream before processing it, so the request may be sent
        again (RFC 9113 §8.7); it is, and not counted as an error."""
        dispatcher = self.ctx.dispatcher
        if dispatcher is None:
            self.ctx.remaining += 1
        else:
            origin = stream[0]
            assert isinstance(origin, int)
            dispatcher.retry(origin)

    def _settings_changed(self, now: int) -> None:
        assert self._h2 is not None
        self._ready = True
        remote_max = self._h2.remote_settings.max_concurrent_streams
        was = self._limit
        self._limit = max(0, min(self._max_streams, remote_max))
        for _ in range(self._limit - max(was, len(self._streams))):
            dispatcher = self.ctx.dispatcher
            if dispatcher is not None:
                dispatcher.slot_free(self, now)
            elif self.ctx.remaining > 0 and self.can_send():
                self.ctx.remaining -= 1
                self.send(now, now)
        if not was and not self._streams and not self._wants_more():
            self._report_idle()

    def _goaway(self, goaway: GoAway) -> None:
        self._draining = True
        # Streams above last_stream_id were not processed (RFC 9113 §6.8): send them again.
        for stream_id in [sid for sid in self._streams if sid > goaway.last_stream_id]:
            self._pending_bodies.pop(stream_id, None)
            self._send_again(self._streams.pop(stream_id))
        if goaway.error_code != ErrorCodes.NO_ERROR and self.transport is not None:
            self.transport.close()  # the streams still in flight count as resets

    def _abort(self, kind: ErrorKind) -> None:
        self._handshake_error = kind
        for _ in self._streams:
            self._rec.error(kind)
            if self.ctx.dispatcher is not None:
                self.ctx.dispatcher.drop_slot()
        self._streams.clear()
        if self.transport is not None:
            self.transport.abort()

    def check_timeout(self, now_ns: int, timeout_ns: int) -> None:
        expired = [sid for sid, stream in self._streams.items() if now_ns - stream[1] > timeout_ns]  # type: ignore[operator]
        if not expired or self._h2 is None:
            return
        for stream_id in expired:
            del self._streams[stream_id]
            self._pending_bodies.pop(stream_id, None)
            self._rec.error(ErrorKind.TIMEOUT)
            with suppress(ProtocolError):  # the stream may have closed meanwhile
                self._h2.reset_stream(stream_id, ErrorCodes.CANCEL)
            self._next(now_ns)
        self._flush()

    def _fail_inflight(self) -> None:
        for _ in self._streams:
            self._rec.error(ErrorKind.RESET)
            if self.ctx.dispatcher is not None:
                self.ctx.dispatcher.drop_slot()
        self._streams.clear()
        self._h2 = None
