"""Misbehaving peers for the hostile tests: a backend that answers each request with bytes
a test scripts, whatever HTTP says they should be.

`ScriptedBackend(answer)` listens on 127.0.0.1 in a thread of its own. For every request it
reads (head and Content-Length body), it calls `answer(request)` and writes what that returns:
bytes are written at once; a list writes its items one by one, a float item sleeps that long
(the event loop keeps running), and the item `CLOSE` closes the connection, `RESET` resets it.
`answer` may also return None to say nothing at all.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

CLOSE = "close"
RESET = "reset"
Step = bytes | float | str
Answer = bytes | list[Step] | None


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    connection: int  # which connection of the backend (1, 2, ...) it came on


@dataclass
class Seen:
    requests: list[Request] = field(default_factory=list)
    connections: int = 0
    closed: list[int] = field(default_factory=list)  # connections the peer closed, in order


def response(status: int = 200, body: bytes = b"", *fields: str, length: bool = True) -> bytes:
    """A response head (and body) with the given extra field lines."""
    lines = [f"HTTP/1.1 {status} X"]
    if length:
        lines.append(f"content-length: {len(body)}")
    lines.extend(fields)
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class _Conn(asyncio.Protocol):
    def __init__(self, backend: ScriptedBackend) -> None:
        self.backend = backend
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.number = 0
        self.busy: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.backend.seen.connections += 1
        self.number = self.backend.seen.connections

    def connection_lost(self, exc: Exception | None) -> None:
        self.backend.seen.closed.append(self.number)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._next()

    def _next(self) -> None:
        if self.busy is not None:
            return
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = self.buffer[:end].decode("latin-1").split("\r\n")
        method, path, _ = head[0].split(" ", 2)
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        if self.backend.read_body and len(self.buffer) < end + 4 + length:
            return
        body = self.buffer[end + 4 : end + 4 + length] if self.backend.read_body else b""
        self.buffer = self.buffer[end + 4 + len(body) :]
        request = Request(method, path, headers, body, self.number)
        self.backend.seen.requests.append(request)
        self.busy = asyncio.ensure_future(self._answer(self.backend.answer(request)))

    async def _answer(self, answer: Answer) -> None:
        if answer is None:
            steps: list[Step] = []
        else:
            steps = [answer] if isinstance(answer, bytes) else answer
        transport = self.transport
        assert transport is not None
        for step in steps:
            if transport.is_closing():
                return
            if isinstance(step, bytes):
                transport.write(step)
            elif isinstance(step, float):
                await asyncio.sleep(step)
            elif step == CLOSE:
                if not transport.get_write_buffer_size():
                    # The FIN leaves with the answer, not a loop turn later.
                    transport.get_extra_info("socket").shutdown(socket.SHUT_WR)
                transport.close()
                return
            elif step == RESET:
                sock = transport.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                transport.abort()
                return
        self.busy = None
        if answer is not None:
            self._next()


class ScriptedBackend:
    def __init__(self, answer: Callable[[Request], Answer], read_body: bool = True) -> None:
        self.answer = answer
        self.read_body = read_body
        self.seen = Seen()
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self.port = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._ready.wait(5)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(
            self.loop.create_server(lambda: _Conn(self), "127.0.0.1", 0)
        )
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self.loop.run_forever()
        server.close()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
