"""The `pgsql` health check: does a PostgreSQL server answer its protocol (v3, "Frontend/Backend
Protocol" chapter of the PostgreSQL manual)?

- mode "ssl" sends an SSLRequest (length 8, code 80877103). Every live server answers a single
  byte, 'S' (willing) or 'N' (not willing); meshlb closes there, before any TLS.
- mode "startup" sends a StartupMessage (protocol 3.0, user, database). A live server asks
  for authentication ('R') or answers an ErrorResponse ('E'). An error is still a live server
  (wrong user, unknown database), except the codes that mean "not now": 57P03
  cannot_connect_now (starting up, shutting down, in recovery without hot standby), 53300
  too_many_connections, and 57P01/57P02 (terminated by an administrator or a crash).
"""

from __future__ import annotations

import struct

from meshlb.health.config import HealthCheckConfig, PgsqlProbeConfig
from meshlb.health.probes import ProbeResult, close_stream, open_stream

SSL_REQUEST = struct.pack("!II", 8, 80877103)
PROTOCOL_3_0 = 196608
NOT_NOW = frozenset({"57P03", "53300", "57P01", "57P02"})
MAX_ERROR = 8192


class PgsqlProbe:
    def __init__(self, config: HealthCheckConfig) -> None:
        pg = config.pgsql or PgsqlProbeConfig()
        self.mode = pg.mode
        params = b"user\0" + pg.user.encode() + b"\0database\0" + (pg.database or pg.user).encode()
        body = struct.pack("!I", PROTOCOL_3_0) + params + b"\0\0"
        self.startup = struct.pack("!I", len(body) + 4) + body

    async def check(self, host: str, port: int) -> ProbeResult:
        reader, writer = await open_stream(host, port)
        try:
            if self.mode == "ssl":
                writer.write(SSL_REQUEST)
                answer = await reader.readexactly(1)
                if answer in (b"S", b"N"):
                    return ProbeResult(True, f"SSLRequest answered {answer.decode()!r}")
                return ProbeResult(False, f"unexpected answer to SSLRequest: {answer!r}")
            writer.write(self.startup)
            kind = await reader.readexactly(1)
            if kind == b"R":
                return ProbeResult(True, "server asks for authentication")
            if kind != b"E":
                return ProbeResult(False, f"unexpected answer to StartupMessage: {kind!r}")
            (length,) = struct.unpack("!I", await reader.readexactly(4))
            fields = parse_error(await reader.readexactly(min(max(length - 4, 0), MAX_ERROR)))
            code, message = fields.get("C", "?"), fields.get("M", "")
            return ProbeResult(code not in NOT_NOW, f"server error {code}: {message}")
        finally:
            await close_stream(writer)


def parse_error(body: bytes) -> dict[str, str]:
    """ErrorResponse fields: a type byte, then a NUL-terminated string, until a NUL type."""
    fields: dict[str, str] = {}
    for part in body.split(b"\0"):
        if part:
            fields[chr(part[0])] = part[1:].decode("utf-8", "replace")
    return fields
