"""A fault-injecting HTTP/1.1 backend for failover tests and the failover benchmark.

Every request is answered according to the current mode, switchable at run time:

    normal      200, a small JSON body naming the node: {"node": "b1", "seq": 17}
    slow        like normal, after `delay` seconds
    blackhole   read the request, never answer, keep the connection open
    reset       read the request, then reset the connection (RST) without a byte of answer
    reset-mid   send the response head and part of the body, then reset
    503         503 Service Unavailable, with `Retry-After: <retry_after>` if set
    refuse      stop listening (new connections are refused) and close open connections
    die         reset every connection and stop listening, as a crash would
    (back to any answering mode re-opens the listener on the same port)

With `health_ok`, the path /healthz is answered 200 in every mode that still listens, to
test passive ejection while active checks pass.

Two ways to run it:
- `FaultProcess(name)`: a child process (`python tests/faults.py --port P --name N`) driven
  by lines on its stdin, each answered by one JSON line. `kill()` sends SIGKILL, the most
  honest crash; `restart()` starts a new process on the same port.
- `FaultThread(name)`: the same server on an event loop in a thread of the test process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import httptools

MODES = ("normal", "slow", "blackhole", "reset", "reset-mid", "503", "refuse", "die")
LISTENING_MODES = frozenset(MODES) - {"refuse", "die"}


class FaultServer:
    """The server itself: one per event loop."""

    def __init__(self, name: str, port: int = 0) -> None:
        self.name = name
        self.port = port
        self.mode = "normal"
        self.delay = 0.5
        self.retry_after: float | None = None
        self.health_ok = False
        self.server: asyncio.base_events.Server | None = None
        self.conns: set[_Conn] = set()
        self.requests = 0  # data requests received (not /healthz)
        self.health = 0  # /healthz requests received
        self.statuses: Counter[int] = Counter()
        self.connections = 0

    async def listen(self) -> None:
        if self.server is not None:
            return
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(
            lambda: _Conn(self), "127.0.0.1", self.port, reuse_address=True
        )
        self.port = self.server.sockets[0].getsockname()[1]

    def unlisten(self, *, abort: bool) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        for conn in list(self.conns):
            conn.reset() if abort else conn.close()

    async def command(self, line: str) -> dict[str, Any]:
        """`mode M [delay=S] [retry_after=S] [health_ok=0|1]`, `stats`: answers a dict."""
        words = line.split()
        if not words:
            return {"error": "empty command"}
        if words[0] == "mode":
            mode = words[1] if len(words) > 1 else ""
            if mode not in MODES:
                return {"error": f"unknown mode {mode!r}; modes: {', '.join(MODES)}"}
            for word in words[2:]:
                key, _, value = word.partition("=")
                if key == "delay":
                    self.delay = float(value)
                elif key == "retry_after":
                    self.retry_after = float(value) if value else None
                elif key == "health_ok":
                    self.health_ok = value == "1"
                else:
                    return {"error": f"unknown option {key!r}"}
            self.mode = mode
            if mode in LISTENING_MODES:
                await self.listen()
            else:
                self.unlisten(abort=mode == "die")
            return {"ok": True, "mode": mode, "port": self.port}
        if words[0] == "stats":
            return self.stats()
        return {"error": f"unknown command {words[0]!r}"}

    def stats(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "mode": self.mode,
            "port": self.port,
            "requests": self.requests,
            "health": self.health,
            "statuses": {str(k): v for k, v in self.statuses.items()},
            "connections": self.connections,
            "open": len(self.conns),
        }


class _Conn(asyncio.Protocol):
    def __init__(self, server: FaultServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.server.conns.add(self)
        self.server.connections += 1

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.conns.discard(self)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.close()

    def on_message_begin(self) -> None:
        self.url = b""

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_message_complete(self) -> None:
        server = self.server
        keep = self.parser.should_keep_alive()
        path = self.url.partition(b"?")[0]
        if path == b"/healthz":
            server.health += 1
            if server.health_ok:
                self.answer(200, keep)
                return
        else:
            server.requests += 1
        mode = server.mode
        if mode == "normal":
            self.answer(200, keep)
        elif mode == "slow":
            asyncio.get_running_loop().call_later(server.delay, self.answer, 200, keep)
        elif mode == "503":
            self.answer(503, keep)
        elif mode == "reset":
            self.reset()
        elif mode == "reset-mid":
            self.write(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n" + b"x" * 100)
            self.reset()
        # blackhole: say nothing

    def answer(self, status: int, keep: bool) -> None:
        server = self.server
        server.statuses[status] += 1
        seq = sum(server.statuses.values())
        if status == 200:
            body = json.dumps({"node": server.name, "seq": seq}).encode() + b"\n"
            head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
        else:
            body = b"unavailable\n"
            head = b"HTTP/1.1 503 Service Unavailable\r\n"
            if server.retry_after is not None:
                head += b"retry-after: %d\r\n" % int(server.retry_after)
        head += b"x-node: %s\r\ncontent-length: %d\r\n" % (server.name.encode(), len(body))
        if not keep:
            head += b"connection: close\r\n"
        self.write(head + b"\r\n" + body)
        if not keep:
            self.close()

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def reset(self) -> None:
        """Close with a TCP RST: SO_LINGER on with a zero timeout, then abort."""
        transport = self.transport
        if transport is None:
            return
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()


class FaultThread:
    """A FaultServer on its own event loop in a daemon thread."""

    def __init__(self, name: str = "f1", port: int = 0) -> None:
        self.server = FaultServer(name, port)
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self.loop.run_until_complete(self.server.listen())
            ready.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, daemon=True, name=f"fault {name}")
        self.thread.start()
        if not ready.wait(5):
            raise RuntimeError("fault server did not start")

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def command(self, line: str) -> dict[str, Any]:
        return asyncio.run_coroutine_threadsafe(self.server.command(line), self.loop).result(5)

    def set_mode(self, mode: str, **options: object) -> dict[str, Any]:
        return self.command(_mode_line(mode, options))

    def stats(self) -> dict[str, Any]:
        return self.command("stats")

    def stop(self) -> None:
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(lambda: self.server.unlisten(abort=True))
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)


class FaultProcess:
    """A FaultServer in a child process, driven through its stdin."""

    def __init__(self, name: str = "f1", port: int = 0) -> None:
        self.name = name
        self.port = port
        self.proc: subprocess.Popen[str] | None = None
        self._spawn()

    def _spawn(self) -> None:
        argv = [sys.executable, str(Path(__file__).resolve()), "--port", str(self.port)]
        self.proc = subprocess.Popen(
            [*argv, "--name", self.name],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        ready = self._read_line(10)
        self.port = int(ready["port"])

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def command(self, line: str) -> dict[str, Any]:
        if not self.alive or self.proc is None or self.proc.stdin is None:
            raise RuntimeError(f"fault process {self.name} is not running")
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self._read_line(5)

    def _read_line(self, timeout: float) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdout is not None
        readable, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if readable else ""
        if not line:
            raise RuntimeError(f"fault process {self.name} did not answer")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def set_mode(self, mode: str, **options: object) -> dict[str, Any]:
        return self.command(_mode_line(mode, options))

    def stats(self) -> dict[str, Any]:
        return self.command("stats")

    def kill(self) -> None:
        """SIGKILL: the kernel resets or closes every connection, nothing is flushed."""
        if self.alive and self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(5)

    def restart(self) -> None:
        """A new process on the same port (after `kill`), in normal mode."""
        self.kill()
        self._spawn()

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.alive and self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        try:
            self.proc.wait(2)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def _mode_line(mode: str, options: dict[str, object]) -> str:
    words = ["mode", mode]
    for key, value in options.items():
        if isinstance(value, bool):
            value = int(value)
        words.append(f"{key}={'' if value is None else value}")
    return " ".join(words)


async def _serve(name: str, port: int, mode: str) -> None:
    server = FaultServer(name, port)
    await server.listen()
    if mode != "normal":
        await server.command(f"mode {mode}")
    loop = asyncio.get_running_loop()
    print(json.dumps({"ready": True, "port": server.port}), flush=True)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        print(json.dumps(await server.command(line.decode())), flush=True)
    server.unlisten(abort=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--name", default="f1")
    parser.add_argument("--mode", default="normal", choices=MODES)
    args = parser.parse_args()
    asyncio.run(_serve(args.name, args.port, args.mode))


if __name__ == "__main__":
    main()
