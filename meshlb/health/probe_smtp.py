"""The `smtp` health check: a 220 greeting, EHLO answered with 250, then QUIT (RFC 5321).

A mail server that is up but refusing service greets with 554, and one that is overloaded
answers EHLO with 421: both fail the check, with the server's own words as the reason. Replies
may span lines (`250-...` continuations, RFC 5321 §4.2.1).
"""

from __future__ import annotations

import asyncio
import contextlib

from meshlb.health.config import HealthCheckConfig, SmtpProbeConfig
from meshlb.health.probes import ProbeResult, close_stream, open_stream

MAX_REPLY_LINES = 100


class SmtpProbe:
    def __init__(self, config: HealthCheckConfig) -> None:
        self.ehlo = (config.smtp or SmtpProbeConfig()).ehlo

    async def check(self, host: str, port: int) -> ProbeResult:
        reader, writer = await open_stream(host, port)
        try:
            code, text = await read_reply(reader)
            if code != 220:
                return ProbeResult(False, f"greeting {code} {text}".rstrip())
            writer.write(f"EHLO {self.ehlo}\r\n".encode())
            code, text = await read_reply(reader)
            if code != 250:
                return ProbeResult(False, f"EHLO answered {code} {text}".rstrip())
            writer.write(b"QUIT\r\n")
            with contextlib.suppress(OSError, asyncio.IncompleteReadError, ValueError):
                await read_reply(reader)  # 221; a server that just closes is fine too
            return ProbeResult(True, "220 greeting, EHLO 250")
        except ValueError as exc:
            return ProbeResult(False, str(exc))
        finally:
            await close_stream(writer)


async def read_reply(reader: asyncio.StreamReader) -> tuple[int, str]:
    """One (possibly multi-line) reply: its code and the text of its first line."""
    first = ""
    for _ in range(MAX_REPLY_LINES):
        raw = await reader.readline()
        if not raw.endswith(b"\n"):
            raise asyncio.IncompleteReadError(raw, None)
        line = raw.decode("latin-1").rstrip("\r\n")
        if len(line) < 3 or not line[:3].isdigit() or line[3:4] not in ("", " ", "-"):
            raise ValueError(f"not an SMTP reply: {line[:60]!r}")
        first = first or line[4:]
        if line[3:4] != "-":
            return int(line[:3]), first
    raise ValueError(f"SMTP reply longer than {MAX_REPLY_LINES} lines")
