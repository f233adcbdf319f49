"""HTTP/1.1 keep-alive client connection: one request in flight, no task or timer per request.

The request is one prebuilt byte string written straight to the transport. Responses are
framed by httptools (Content-Length, chunked) or by `HeadResponseParser` for HEAD; counting
happens as the parser completes a response (or as one is replayed, below), reading the clock
once and using that reading both to end this response's latency and to start the next one's.

Replay. A server under load test usually sends byte-identical responses, and parsing is a
function of the bytes and the parser's state. So when a read holds exactly one whole final
keep-alive response, starting and ending at message boundaries, its bytes are kept; a later
read with the very same bytes is not parsed again: the parser would reach the same complete
response, and it still holds that response's status and keep-alive flag, so the completion
callback simply runs again. Any read with other bytes is parsed and replaces the kept one
(nginx's Date header changes once a second). This removes llhttp, the largest share of the
client's CPU per request, from the common case. Connections whose responses keep differing
stop trying after `REPLAY_GIVE_UP` reads in a row.

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
REPLAY_GIVE_UP = 32  # parsed reads in a row, none replayed, before replay is switched off


class H1Connection(Connection):
    # The parser looks its callbacks up when it is created; they are bound to the instance.
    on_message_complete: Callable[[], None]
    on_message_begin: Callable[[], None]
    on_header: Callable[[bytes, bytes], None]
    # What to do with a final response (now, status, keep-alive), chosen once for the run.
    _finish: Callable[[int, int, bool], None]

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
        # Replay state (see the module docstring).
        self._replay_on = not head  # HEAD framing has no begin callback to learn from
        self._replay: bytes | None = None
        self._replay_code = 0
        self._began = 0  # messages begun during the current parse
        self._partial = False  # a message has begun and not ended
        self._last_code = 0  # status and keep-alive of the last message parsed
        self._last_keep_alive = False
        self._parsed_in_a_row = 0
        if self._replay_on:
            self.on_message_begin = self._message_begin
        self.on_message_complete = self._parsed
        if ctx.dispatcher is not None:
            finish = self._finish_open
        elif ctx.budgeted:
            finish = self._finish_closed
        else:
            finish = self._finish_unbounded
        if ctx.by_header is None:
            self._finish = finish
        else:
            self._counted_finish = finish
            self._finish = self._finish_counting_header
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
        self._replay = None  # the new parser has parsed nothing yet
        self._partial = False
        ctx = self.ctx
        if ctx.dispatcher is not None:
            ctx.dispatcher.slot_free(self, now_ns)
        elif ctx.remaining > 0:
            ctx.remaining -= 1
            self.send(now_ns, now_ns)
        else:
            self._report_idle()

    # Per response: data_received, then _parsed (from the parser) or nothing (a replay), then
    # one _finish variant. Methods are called on the objects that own them, or through a
    # local, which CPython's specialising interpreter can cache; the clock is read once.

    def data_received(self, data: bytes) -> None:
        self.rx_bytes += len(data)
        if data == self._replay:
            self._parsed_in_a_row = 0
            finish = self._finish
            finish(perf_counter_ns(), self._replay_code, True)
            return
        partial_before = self._partial
        self._began = 0
        try:
            self._parser.feed_data(data)
        except HttpParserCallbackError:
            raise  # a bug in a callback, not the server's doing
        except HttpParserError:
            self._replay = None
            self._abort(ErrorKind.PROTOCOL)
            return
        if self._replay_on:
            self._learn(data, partial_before)

    def _message_begin(self) -> None:
        self._began += 1
        self._partial = True
        self._header_value = None

    def _parsed(self) -> None:
        now = perf_counter_ns()
        parser = self._parser
        self._partial = False
        code = parser.get_status_code()
        keep_alive = parser.should_keep_alive()  # valid only inside this callback
        self._last_code, self._last_keep_alive = code, keep_alive
        if code >= 200:  # not an interim 1xx response, after which the final one follows
            finish = self._finish
            finish(now, code, keep_alive)

    def _learn(self, data: bytes, partial_before: bool) -> None:
        """After a parse: keep `data` for replay if it was exactly one whole final keep-alive
        response; otherwise forget the kept bytes (their response is no longer the last)."""
        if (
            not partial_before
            and self._began == 1
            and not self._partial
            and self._last_code >= 200
            and self._last_keep_alive
        ):
            self._replay = data
            self._replay_code = self._last_code
        else:
            self._replay = None
        self._parsed_in_a_row += 1
        if self._parsed_in_a_row >= REPLAY_GIVE_UP:
            self._stop_replay()

    def _stop_replay(self) -> None:
        """The responses keep differing: stop paying for the begin callback."""
        self._replay_on = False
        self._replay = None
        del self.on_message_begin
        if not self._partial:  # at a message boundary a fresh parser loses nothing
            self._parser = self._new_parser()

    # One per run: closed model with a request budget (-n), closed model for a duration, open
    # model. They repeat a few lines so that each does only what its model needs;
    # `histogram.bucket_index` is inlined, and 200s are not counted by code (see recorder.py).

    def _finish_closed(self, now: int, code: int, keep_alive: bool) -> None:
        if code != 200:
            self._other_status[code] += 1
        index = now - self._sent
        if index > 255:
            shift = index.bit_length() - 8
            index = (shift << 7) + (index >> shift)
        self._latency[index] += 1
        ctx = self.ctx
        if keep_alive and ctx.remaining > 0:
            ctx.remaining -= 1
            self._sent = now
            self.transport.write(self._request)  # type: ignore[union-attr]
        else:
            self._busy = False
            self._after_last_response(keep_alive)

    def _finish_unbounded(self, now: int, code: int, keep_alive: bool) -> None:
        if code != 200:
            self._other_status[code] += 1
        index = now - self._sent
        if index > 255:
            shift = index.bit_length() - 8
            index = (shift << 7) + (index >> shift)
        self._latency[index] += 1
        if keep_alive:
            self._sent = now
            self.transport.write(self._request)  # type: ignore[union-attr]
        else:
            self._busy = False
            self._after_last_response(keep_alive)

    def _finish_open(self, now: int, code: int, keep_alive: bool) -> None:
        if code != 200:
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
        if keep_alive:
            dispatcher.complete(self, now)
        else:
            dispatcher.drop_slot()
            self._after_last_response(keep_alive)

    def _on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == self.ctx.by_header:
            self._header_value = value.decode("latin-1")

    def _finish_counting_header(self, now: int, code: int, keep_alive: bool) -> None:
        # With replay on, the value stays for a replay of the same bytes and the next parsed
        # message's begin resets it; without, it is reset here.
        value = self._header_value
        self._rec.count_header(NO_HEADER if value is None else value)
        if not self._replay_on:
            self._header_value = None
        self._counted_finish(now, code, keep_alive)

    def _after_last_response(self, keep_alive: bool) -> None:
        """Nothing more to send here: the server ends keep-alive, or the budget is spent."""
        transport = self.transport
        if transport is not None and not keep_alive:
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
