"""Where messages start and end on one connection; the same for both codecs.

A reader finds each head itself (the first CRLFCRLF after the start line), checks its size,
and hands the complete head to the codec's `_parse_head`, which returns a RequestHead or
ResponseHead or raises ProtocolError. The body is framed by body.py. So a parser never sees
more than one head at a time, and no parser's idea of where a message ends can differ from
ours.

Fast path: a head that arrives whole is parsed straight out of the received bytes, with no
copy unless other messages share the read. A head split across reads is gathered in a
bytearray and checked as it grows (validate.check_head_bytes plus the start line once it is
complete), so that malformed input that will never form a CRLFCRLF (bare-LF heads, HTTP/0.9
request lines) is answered at once instead of waiting for a timeout.

After a request that asked to upgrade, and after a 101 response, the reader pauses: further
bytes belong to another protocol and are held until the owner calls `resume()` (the upgrade
was refused, keep parsing HTTP/1.1) or `detach()` (take the bytes and tunnel).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Final

from .body import BodyCallback, ChunkedBody, ContentLengthBody, UntilCloseBody
from .fastpath import response_head
from .messages import H1Limits, RequestHead, RequestSink, ResponseHead, ResponseSink
from .validate import ProtocolError, check_head_bytes, parse_request_line, parse_status_line

# A codec's recognizer for heads of the common shape (fastpath.py), if it has one; the
# request one is given the last Host value that passed check_host on the connection.
RequestRecognizer = Callable[[bytes, H1Limits, bytes], RequestHead | None]
# A response scanner (fastpath.scan_response) and what it returns for a common head:
# (status, reason, content_length or -1, keep_alive, raw field lines).
ResponseScanner = Callable[[bytes, int], "tuple[int, bytes, int, bool, bytes] | None"]
# What take_whole returns: (status, reason, keep_alive, raw field lines, where the body starts).
WholeResponse = tuple[int, bytes, bool, bytes, int]

_HEAD: Final = 0
_BODY: Final = 1
_PAUSED: Final = 2  # after an upgrade: bytes are held
_DONE: Final = 3  # error, EOF, or after a message that closes the connection: input ignored
_DETACHED: Final = 4

_STATE_NAMES: Final = ("head", "body", "paused", "done", "detached")

Body = ChunkedBody | ContentLengthBody | UntilCloseBody


class _Reader:
    __slots__ = (
        "limits",
        "_state",
        "_carry",
        "_line_checked",
        "_body",
        "_length_body",
        "_held",
        "_after",
        "_on_end",
    )

    def __init__(self, limits: H1Limits, on_body: BodyCallback, on_end: Callable[[], None]) -> None:
        self.limits = limits
        self._on_end = on_end  # the sink's end-of-message method
        self._state = _HEAD
        self._carry = bytearray()  # an incomplete head, from its first byte
        self._line_checked = False  # the start line in _carry was checked
        self._body: Body | None = None
        self._length_body = ContentLengthBody(0, on_body)  # reused for every message
        self._held = bytearray()  # bytes received while paused
        self._after = _HEAD  # state once the current body ends

    # -- subclass interface ------------------------------------------------------------------

    def _start(self, head: bytes, more: bool) -> None:
        """Parse a complete head, tell the sink, and set up the body. `more`: bytes follow
        the head in the same read."""
        raise NotImplementedError

    def _more_after_message(self) -> None:
        """A message ended with more bytes in the same read (before the sink hears the end)."""

    def _fail(self, exc: ProtocolError) -> None:
        raise NotImplementedError

    def _check_start_line(self, line: bytes) -> None:
        raise NotImplementedError

    # -- input -------------------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        state = self._state
        if state == _HEAD and self._carry:
            self._feed_partial(data)
        elif state <= _BODY:
            self._run(data, 0)
        elif state == _PAUSED:
            self._held += data
        elif state == _DETACHED:
            raise RuntimeError("parser was detached: the connection carries another protocol")

    def resume(self) -> None:
        """The upgrade did not happen: parse the held bytes as HTTP/1.1 again."""
        if self._state == _PAUSED:
            held, self._held = bytes(self._held), bytearray()
            self._state = _HEAD
            if held:
                self._run(held, 0)

    def detach(self) -> bytes:
        """The connection switched protocols: return the bytes held since the switch."""
        held, self._held = bytes(self._held), bytearray()
        self._state = _DETACHED
        return held

    def held_bytes(self) -> int:
        """Bytes held since an upgrade, until resume() or detach()."""
        return len(self._held)

    @property
    def idle(self) -> bool:
        """Between messages, with no partial head: an EOF now loses nothing."""
        return self._state == _HEAD and not self._carry

    def _run(self, data: bytes, pos: int) -> None:
        end = len(data)
        try:
            while pos < end:
                state = self._state
                if state == _HEAD:
                    first = data[pos]
                    if first == 0x0D or first == 0x0A:
                        pos = self._skip_empty_lines(data, pos)
                        if pos < 0:
                            return
                    stop = data.find(b"\r\n\r\n", pos)
                    if stop < 0:
                        self._carry = bytearray(data[pos:] if pos else data)
                        self._line_checked = False
                        self._check_partial(0)
                        return
                    stop += 4
                    if stop - pos > self.limits.max_header_bytes:
                        raise ProtocolError(431, "header section too large")
                    self._start(data if pos == 0 and stop == end else data[pos:stop], stop < end)
                    pos = stop
                elif state == _BODY:
                    body = self._body
                    assert body is not None
                    pos = body.feed(data, pos)
                    if pos < 0:
                        return
                    self._body = None
                    self._state = self._after
                    if pos < end:
                        self._more_after_message()
                    self._on_end()
                else:
                    if state == _PAUSED:
                        self._held += data[pos:]
                    return
        except ProtocolError as exc:
            self._error(exc)

    def _skip_empty_lines(self, data: bytes, pos: int) -> int:
        # RFC 9112 §2.2: ignore CRLFs before a start line. A bare LF is still a bare LF.
        end = len(data)
        while pos < end:
            byte = data[pos]
            if byte == 0x0D:
                if pos + 1 == end:
                    self._carry = bytearray(b"\r")
                    return -1
                if data[pos + 1] != 0x0A:
                    raise ProtocolError(400, "bare CR before start line")
                pos += 2
            elif byte == 0x0A:
                raise ProtocolError(400, "bare LF before start line")
            else:
                return pos
        return -1

    def _feed_partial(self, data: bytes) -> None:
        carry = self._carry
        if carry == b"\r":  # a CRLF before the start line, split across reads
            self._carry = bytearray()
            self._run(b"\r" + data, 0)
            return
        old = len(carry)
        carry += data
        end = carry.find(b"\r\n\r\n", max(0, old - 3))
        try:
            if end < 0:
                self._check_partial(old)
                return
            end += 4
            if end > self.limits.max_header_bytes:
                raise ProtocolError(431, "header section too large")
            head = bytes(carry[:end])
            self._carry = bytearray()
            self._start(head, end - old < len(data))
        except ProtocolError as exc:
            self._error(exc)
            return
        self._run(data, end - old)

    def _check_partial(self, checked: int) -> None:
        # The same checks, in the same order, as for a complete head, so that how the bytes
        # were cut into reads never changes the answer: size, start line, then bytes.
        carry = self._carry
        if len(carry) > self.limits.max_header_bytes:
            raise ProtocolError(431, "header section too large")
        if not self._line_checked:
            eol = carry.find(b"\r\n")
            if eol >= 0:
                self._line_checked = True
                self._check_start_line(bytes(carry[:eol]))
        check_head_bytes(carry, checked, complete=False)

    def _stop(self) -> None:
        self._state = _DONE
        self._carry = bytearray()
        self._body = None
        self._held = bytearray()

    def _error(self, exc: ProtocolError) -> None:
        self._stop()
        self._fail(exc)

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {_STATE_NAMES[self._state]} body={self._body!r} "
            f"partial={len(self._carry)}>"
        )


class RequestReader(_Reader):
    """Requests of one downstream connection; the codec supplies `_parse_head`."""

    __slots__ = ("sink", "_on_head", "_fast", "_valid_host")

    def __init__(
        self, sink: RequestSink, limits: H1Limits, fast: RequestRecognizer | None = None
    ) -> None:
        super().__init__(limits, sink.on_request_body, sink.on_request_end)
        self.sink = sink
        self._on_head = sink.on_request_head
        self._fast = fast
        self._valid_host = b""  # the last Host the recognizer accepted (checked once)

    def _parse_head(self, head: bytes) -> RequestHead:
        raise NotImplementedError

    def _recognize(self, head: bytes) -> RequestHead | None:
        fast = self._fast
        common = None if fast is None else fast(head, self.limits, self._valid_host)
        if common is not None:
            self._valid_host = common.host
        return common

    def take_whole(self, data: bytes) -> RequestHead | None:
        """The request, if `data` is exactly one whole request of the common shape with no
        body, between messages: the caller handles it as on_request_head + on_request_end.
        None: pass `data` to feed() as usual. The reader's state is the same either way."""
        # (No search for the end of the head: a recognizer accepts only data that ends with
        # its one empty line.)
        if self._state != _HEAD or self._carry or len(data) > self.limits.max_header_bytes:
            return None
        head = self._recognize(data)
        if head is None or head.content_length:
            return None
        if not head.keep_alive:
            self._state = _DONE  # RFC 9112 §9.6: nothing after a request that closes
        return head

    def feed_eof(self) -> None:
        """The client closed. A partial message is dropped: there is nobody to answer."""
        self._stop()

    def _start(self, raw: bytes, more: bool) -> None:
        head = self._parse_head(raw)
        # After an upgrade request the bytes are another protocol's; after "close", nothing
        # more may be processed (RFC 9112 §9.6).
        after = _PAUSED if head.upgrade is not None else _HEAD if head.keep_alive else _DONE
        self._on_head(head)
        if head.chunked:
            limits = self.limits
            self._body = ChunkedBody(
                self.sink.on_request_body,
                limits.max_body_bytes,
                limits.max_header_bytes,
                limits.max_headers,
            )
        elif head.content_length:
            body = self._length_body
            body.remaining = head.content_length
            self._body = body
        else:
            self._state = after
            self._on_end()
            return
        self._after = after
        self._state = _BODY

    def _fail(self, exc: ProtocolError) -> None:
        self.sink.on_request_error(exc.status, exc.reason)

    def _check_start_line(self, line: bytes) -> None:
        parse_request_line(line, self.limits)


class ResponseReader(_Reader):
    """Responses of one upstream connection, matched to the requests announced by expect().

    A response to no request is a protocol error, and bytes that follow the last expected
    response in the same read end the connection's reuse (`idle` is False afterwards)."""

    __slots__ = ("sink", "_on_body", "_expected", "_fast", "surplus")

    def __init__(
        self, sink: ResponseSink, limits: H1Limits, fast: ResponseScanner | None = None
    ) -> None:
        super().__init__(limits, sink.on_response_body, sink.on_response_end)
        self.sink = sink
        self.surplus = False  # bytes came after the last expected response
        self._on_body = sink.on_response_body
        self._expected: deque[bytes] = deque()
        self._fast = fast

    def _parse_head(self, head: bytes) -> ResponseHead:
        raise NotImplementedError

    def _recognize(self, head: bytes) -> ResponseHead | None:
        scanned = None if self._fast is None else self._fast(head, self.limits.max_headers)
        return None if scanned is None else response_head(*scanned)

    def take_whole(self, data: bytes) -> WholeResponse | None:
        """If `data` is exactly the one response expected, of the common shape, with a
        Content-Length body complete in `data`: (status, reason, keep_alive, raw field lines,
        where the body starts), without building a head. The caller handles it as head, body
        and end; None: feed() it instead."""
        expected = self._expected
        fast = self._fast
        if (
            fast is None
            or self._state != _HEAD
            or self._carry
            or len(expected) != 1
            or expected[0] == b"HEAD"
        ):
            return None
        end = data.find(b"\r\n\r\n") + 4
        if end < 4 or end > self.limits.max_header_bytes:
            return None
        scanned = fast(data[:end], self.limits.max_headers)
        if scanned is None:
            return None
        status, reason, length, keep_alive, raw = scanned
        if length < 0 or len(data) != end + length:
            return None
        expected.popleft()
        if not keep_alive:
            self._state = _DONE
        return status, reason, keep_alive, raw, end

    def expect(self, method: bytes) -> None:
        """A request with `method` was sent: its response comes after those already expected."""
        self._expected.append(method)

    def feed_eof(self) -> None:
        """The upstream closed. That ends a body read until close; anything else was cut short.

        With nothing of a response received there is no callback: the owner sees the closed
        connection itself and may treat it as a reset of an idle connection.
        """
        state, body, partial = self._state, self._body, bool(self._carry)
        self._stop()
        if state == _BODY and isinstance(body, UntilCloseBody):
            self.sink.on_response_end()
        elif state == _BODY or (state == _HEAD and partial):
            self.sink.on_response_error("upstream closed the connection mid-response")

    def _more_after_message(self) -> None:
        if not self._expected:
            self._unsolicited()

    def _unsolicited(self) -> None:
        # Bytes after the last expected response: a body on a HEAD/204/304 response, a second
        # response, junk. They answer nobody: the connection ends with this message (the
        # owner sees `idle` False and closes it instead of reusing it), and they are dropped.
        self._state = _DONE
        self.surplus = True

    def _start(self, raw: bytes, more: bool) -> None:
        head = self._parse_head(raw)
        status = head.status
        if status < 200 and status != 101:
            self.sink.on_response_informational(head)
            return
        expected = self._expected
        if not expected:
            raise ProtocolError(502, "a response to no request")
        method = expected.popleft()
        sink = self.sink
        if status == 101:
            self._state = _PAUSED
            sink.on_response_head(head)
            sink.on_response_end()
            return
        after = _HEAD if head.keep_alive else _DONE
        if method == b"HEAD" or status == 204 or status == 304:
            body: Body | None = None
        elif head.chunked:
            limits = self.limits
            body = ChunkedBody(self._on_body, 0, limits.max_header_bytes, limits.max_headers)
        elif head.content_length:
            body = self._length_body
            body.remaining = head.content_length
        elif head.content_length == 0:
            body = None
        else:
            head.keep_alive = False
            body = UntilCloseBody(self._on_body)
        if body is None:
            self._state = after
            if more and not expected:
                self._unsolicited()
            sink.on_response_head(head)
            sink.on_response_end()
            return
        self._after = after
        self._body = body
        self._state = _BODY
        sink.on_response_head(head)

    def _fail(self, exc: ProtocolError) -> None:
        self._expected.clear()
        self.sink.on_response_error(exc.reason)

    def _check_start_line(self, line: bytes) -> None:
        parse_status_line(line)
