"""HTTP/1.1 keep-alive client connection: one request in flight, no task or timer per request.

The request is one prebuilt byte string written straight to the transport. Responses are
framed by httptools (Content-Length, chunked) or by `HeadResponseParser` for HEAD; counting
happens in the parser's on_message_complete callback, which reads the clock once and uses
that reading both to end the latency of this response and to start the next request's.

Responses whose body ends only when the server closes the connection (no Content-Length, not
chunked) are not supported: httptools gives no way to finish them at EOF, so they count as
resets. Servers send them only to HTTP/1.0 clients in practice.
"""

from __future__ import annotations

from collections.abc import Callable
from time import perf_counter_ns

from httptools import HttpParserCallbackError, HttpParserError, HttpResponseParser

from meshlb.bench.connection import Connection
from meshlb.bench.context import RunContext
from meshlb.bench.head import HeadResponseParser
from meshlb.bench.results import ErrorKind

NO_HEADER = "(none)"


class H1Connection(Connection):
    # The parser looks its callbacks up when it is created, so the variant for the run's model
    # is bound to the instance once rather than chosen per response.
    on_message_complete: Callable[[], None]
    on_header: Callable[[bytes, bytes], None]

    def __init__(self, ctx: RunContext, number: int, request: bytes, head: bool) -> None:
        super().__init__(ctx, number)
        self._request = request
        self._head = head
        self._sent = 0  # when the request in flight was written
        self._origin = 0  # open model: when it was meant to be sent
        self._busy = False
        self._rec = ctx.recorder
        self._latency = ctx.recorder.latency
        self._latency_uncorrected = ctx.recorder.latency_uncorrected
        self._other_status = ctx.recorder.other_status
        self._header_value: str | None = None
        if ctx.dispatcher is not None:
            complete = self._complete_open
        elif ctx.budgeted:
            complete = self._complete_closed
        else:
            complete = self._complete_unbounded
        if ctx.by_header is None:
            self.on_message_complete = complete
        else:
            self._counted_complete = complete
            self.on_message_complete = self._complete_counting_header
            self.on_header = self._on_header
        self._parser = self._new_parser()  # and a fresh one for every transport

    def inflight(self) -> int:
        return 1 if self._busy else 0

    def can_send(self) -> bool:
        return self.transport is not None and not self._busy and not self.ctx.stopping

    def send(self, origin_ns: int, now_ns: int) -> None:
        self._origin = origin_ns
        self._sent = now_ns
        self._busy = True
        self.transport.write(self._request)  # type: ignore[union-attr]

    def _new_parser(self) -> HttpResponseParser | HeadResponseParser:
        return HeadResponseParser(self) if self._head else HttpResponseParser(self)

    def _start(self, now_ns: int) -> None:
        self._ready = True
        self._parser = self._new_parser()
        self._header_value = None
        ctx = self.ctx
        if ctx.dispatcher is not None:
            ctx.dispatcher.slot_free(self, now_ns)
        elif ctx.remaining > 0:
            ctx.remaining -= 1
            self.send(now_ns, now_ns)
        else:
            self._report_idle()

    def data_received(self, data: bytes) -> None:
        self.rx_bytes += len(data)
        try:
            self._parser.feed_data(data)
        except HttpParserCallbackError:
            raise  # a bug in a callback, not the server's doing
        except HttpParserError:
            self._abort(ErrorKind.PROTOCOL)

    # The three methods below run once per response, one of them per run: closed model with a
    # request budget (-n), closed model for a duration, open model. They are kept apart (and
    # repeat a few lines) so that each does only what its model needs. Methods are called on
    # the objects that own them, which CPython's specialising interpreter can cache; the clock
    # is read once; `histogram.bucket_index` is inlined; 200s are not counted by code (see
    # recorder.py).

    def _complete_closed(self) -> None:
        now = perf_counter_ns()
        parser = self._parser
        code = parser.get_status_code()
        if code != 200:
            if code < 200:  # an interim 1xx response; the final one follows
                return
            self._other_status[code] += 1
        index = now - self._sent
        if index > 255:
            shift = index.bit_length() - 8
            index = (shift << 7) + (index >> shift)
        self._latency[index] += 1
        ctx = self.ctx
        if ctx.remaining > 0 and parser.should_keep_alive():
            ctx.remaining -= 1
            self._sent = now
            self.transport.write(self._request)  # type: ignore[union-attr]
        else:
            self._busy = False
            self._after_last_response()

    def _complete_unbounded(self) -> None:
        now = perf_counter_ns()
        parser = self._parser
        code = parser.get_status_code()
        if code != 200:
            if code < 200:
                return
            self._other_status[code] += 1
        index = now - self._sent
        if index > 255:
            shift = index.bit_length() - 8
            index = (shift << 7) + (index >> shift)
        self._latency[index] += 1
        if parser.should_keep_alive():
            self._sent = now
            self.transport.write(self._request)  # type: ignore[union-attr]
        else:
            self._busy = False
            self._after_last_response()

    def _complete_open(self) -> None:
        now = perf_counter_ns()
        parser = self._parser
        code = parser.get_status_code()
        if code != 200:
            if code < 200:
                return
            self._other_status[code] += 1
        index = now - self._origin
        if index > 255:
            shift = index.bit_length() - 8
            index = (shift << 7) + (index >> shift)
        self._latency[index] += 1
        index = now - self._sent
        if index > 255:
            shift = index.bit_length() - 8
            index = (shift << 7) + (index >> shift)
        self._latency_uncorrected[index] += 1
        self._busy = False
        dispatcher = self.ctx.dispatcher
        assert dispatcher is not None
        if parser.should_keep_alive():
            dispatcher.complete(self, now)
        else:
            dispatcher.drop_slot()
            self._after_last_response()

    def _on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == self.ctx.by_header:
            self._header_value = value.decode("latin-1")

    def _complete_counting_header(self) -> None:
        if self._parser.get_status_code() >= 200:
            value = self._header_value
            self._rec.count_header(NO_HEADER if value is None else value)
        self._header_value = None
        self._counted_complete()

    def _after_last_response(self) -> None:
        """Nothing more to send here: the server ends keep-alive, or the budget is spent."""
        transport = self.transport
        if transport is not None and not self._parser.should_keep_alive():
            transport.close()  # connection_lost reopens it if there is more to send
        elif not self._wants_more():
            self._report_idle()

    def _abort(self, kind: ErrorKind) -> None:
        if self._busy:
            self._busy = False
            self._rec.error(kind)
            if self.ctx.dispatcher is not None:
                self.ctx.dispatcher.drop_slot()
        if self.transport is not None:
            self.transport.abort()

    def check_timeout(self, now_ns: int, timeout_ns: int) -> None:
        if self._busy and now_ns - self._sent > timeout_ns:
            self._abort(ErrorKind.TIMEOUT)

    def _fail_inflight(self) -> None:
        if self._busy:
            self._busy = False
            self._rec.error(ErrorKind.RESET)
            if self.ctx.dispatcher is not None:
                self.ctx.dispatcher.drop_slot()
