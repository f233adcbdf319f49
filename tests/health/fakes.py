"""Tiny protocol servers on 127.0.0.1 for probe tests: just enough SMTP, PostgreSQL and TCP.

Each is an asyncio server run inside the test's own event loop: `async with serve(handler)
as port:` where the handler is `async (reader, writer) -> None`.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import AsyncIterator, Awaitable, Callable

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def serve(handler: Handler) -> AsyncIterator[int]:
    async def guarded(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await handler(reader, writer)
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(guarded, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


def smtp(
    greeting: bytes = b"220-mail.test ESMTP\r\n220 ready\r\n", ehlo: bytes | None = None
) -> Handler:
    """An SMTP server that greets, answers EHLO (multi-line by default) and QUIT."""
    ehlo_reply = ehlo or b"250-mail.test hello\r\n250-PIPELINING\r\n250 8BITMIME\r\n"
    seen: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(greeting)
        while line := await reader.readline():
            seen.append(line)
            verb = line[:4].upper()
            if verb == b"EHLO":
                writer.write(ehlo_reply)
            elif verb == b"QUIT":
                writer.write(b"221 2.0.0 bye\r\n")
                await writer.drain()
                return
            else:
                writer.write(b"502 5.5.2 command not recognized\r\n")

    handler.seen = seen  # type: ignore[attr-defined]
    return handler


def pgsql(ssl_answer: bytes = b"N", startup_answer: bytes = b"") -> Handler:
    """A PostgreSQL front door: answers an SSLRequest with one byte, and a StartupMessage
    with `startup_answer` (default: AuthenticationMD5Password)."""
    auth_md5 = b"R" + struct.pack("!II", 12, 5) + b"salt"

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        (length,) = struct.unpack("!I", await reader.readexactly(4))
        (code,) = struct.unpack("!I", await reader.readexactly(4))
        await reader.readexactly(length - 8)
        if code == 80877103:
            writer.write(ssl_answer)
        elif code == 196608:
            writer.write(startup_answer or auth_md5)
        await writer.drain()
        await reader.read(1)  # wait for the client to close

    return handler


def pg_error(code: str, message: str) -> bytes:
    body = b"SFATAL\0C" + code.encode() + b"\0M" + message.encode() + b"\0\0"
    return b"E" + struct.pack("!I", len(body) + 4) + body


def replying(reply: bytes, *, after: bytes = b"", close: bool = False) -> Handler:
    """Write `reply` (after reading `after`, if given), then close at once (`close`) or wait
    for the client to close."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if after:
            await reader.readuntil(after)
        writer.write(reply)
        await writer.drain()
        if not close:
            await reader.read(65536)

    return handler
