"""Real HTTP/1.1 backends for end-to-end tests, each running its own event loop in a thread.

A backend records what it received (raw bytes per connection, parsed requests) and answers
according to its path:
  /delay/<ms>          answer after a delay
  /bytes/<n>           a Content-Length body of n bytes, streamed in 64 KiB pieces
  /chunked/<n>         a chunked body of n bytes
  /close/<n>           a body of n bytes delimited by closing the connection (no length)
  /status/<code>       that status
  /echo                the request body back (counts bytes as it streams)
  /headers             the request head as the backend saw it, as JSON
  /upgrade             101 to an echo protocol that answers every read in upper case
  anything else        a small JSON body naming the backend
"""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass, field

import httptools

CHUNK = b"x" * 65536


@dataclass
class SeenRequest:
    method: str
    path: str
    headers: list[tuple[str, str]]
    body_size: int = 0

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None


@dataclass
class BackendState:
    name: str
    requests: list[SeenRequest] = field(default_factory=list)
    raw: bytearray = field(default_factory=bytearray)
    connections: int = 0
    transports: list[asyncio.Transport] = field(default_factory=list)


class _Handler(asyncio.Protocol):
    def __init__(self, state: BackendState) -> None:
        self.state = state
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.headers: list[tuple[str, str]] = []
        self.body_size = 0
        self.echo: list[bytes] | None = None
        self.paused = False
        self.queue: list[tuple[SeenRequest, bool]] = []
        self.busy = False
        self.echoing = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.state.connections += 1
        self.state.transports.append(transport)

    def data_received(self, data: bytes) -> None:
        self.state.raw += data[:4096]
        if self.echoing:  # after a 101: a raw echo protocol
            self.transport.write(data.upper())  # type: ignore[union-attr]
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # The request was complete; a refused upgrade continues as HTTP/1.1.
            self.parser = httptools.HttpRequestParser(self)
        except httptools.HttpParserError:
            self.transport.close()  # type: ignore[union-attr]

    def on_message_begin(self) -> None:
        self.url = b""
        self.headers = []
        self.body_size = 0
        self.echo = None

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        if self.url == b"/echo":
            self.echo = []

    def on_body(self, body: bytes) -> None:
        self.body_size += len(body)
        if self.echo is not None and len(self.echo) < 4096:
            self.echo.append(body)

    def on_message_complete(self) -> None:
        req = SeenRequest(
            self.parser.get_method().decode(), self.url.decode(), self.headers, self.body_size
        )
        self.state.requests.append(req)
        keep = self.parser.should_keep_alive()
        asyncio.ensure_future(self.respond(req, keep, self.echo))

    async def respond(self, req: SeenRequest, keep: bool, echo: list[bytes] | None) -> None:
        t = self.transport
        assert t is not None
        path = req.path.partition("?")[0]
        parts = path.strip("/").split("/")
        conn = b"" if keep else b"connection: close\r\n"
        name = self.state.name.encode()
        if parts[0] == "upgrade" and req.header("upgrade"):
            t.write(
                b"HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: %s\r\n\r\n"
                % req.header("upgrade").encode()  # type: ignore[union-attr]
            )
            self.echoing = True
            return
        if parts[0] == "delay":
            await asyncio.sleep(int(parts[1]) / 1000)
        if parts[0] in ("bytes", "chunked", "close"):
            n = int(parts[1])
            if parts[0] == "bytes":
                t.write(
                    b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\nx-backend: %s\r\n%s\r\n"
                    % (n, name, conn)
                )
            elif parts[0] == "chunked":
                t.write(
                    b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nx-backend: %s\r\n%s\r\n"
                    % (name, conn)
                )
            else:
                t.write(b"HTTP/1.1 200 OK\r\nx-backend: %s\r\nconnection: close\r\n\r\n" % name)
            sent = 0
            while sent < n:
                piece = CHUNK[: min(len(CHUNK), n - sent)]
                t.write(b"%x\r\n%s\r\n" % (len(piece), piece) if parts[0] == "chunked" else piece)
                sent += len(piece)
                if t.get_write_buffer_size() > 1 << 20:
                    while t.get_write_buffer_size() > 1 << 18:
                        await asyncio.sleep(0.001)
            if parts[0] == "chunked":
                t.write(b"0\r\n\r\n")
            if parts[0] == "close" or not keep:
                t.close()
            return
        status = int(parts[1]) if parts[0] == "status" else 200
        if parts[0] == "echo":
            body = b"".join(echo or []) if req.body_size <= 65536 else b"%d" % req.body_size
        elif parts[0] == "headers":
            body = json.dumps(
                {"method": req.method, "path": req.path, "headers": req.headers}
            ).encode()
        else:
            body = json.dumps({"backend": self.state.name, "path": req.path}).encode()
        t.write(
            b"HTTP/1.1 %d X\r\ncontent-length: %d\r\nx-backend: %s\r\n%s\r\n%s"
            % (status, len(body), name, conn, body)
        )
        if not keep:
            t.close()


class Backend:
    """A backend server on 127.0.0.1 in its own thread; `stop()` closes it."""

    def __init__(self, name: str = "b1", port: int = 0) -> None:
        self.state = BackendState(name)
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._port = port
        self.port = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self._ready.wait(5)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(
            self.loop.create_server(lambda: _Handler(self.state), "127.0.0.1", self._port)
        )
        self.server = server
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self.loop.run_forever()
        server.close()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def requests(self) -> list[SeenRequest]:
        return self.state.requests

    def stop(self) -> None:
        """Stop like a killed process: the listener and every connection close."""
        if self.loop.is_running():

            def shut() -> None:
                self.server.close()
                for transport in self.state.transports:
                    transport.abort()
                # abort() closes sockets on the next iteration: stop after that one.
                self.loop.call_soon(self.loop.stop)

            self.loop.call_soon_threadsafe(shut)
            self.thread.join(5)
