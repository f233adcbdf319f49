"""The `http` health check: one request on a fresh connection, judged by status and body.

The response is parsed with h11 (the reference HTTP/1.1 codec), so a malformed answer is a
failed check with a precise reason rather than a hang. The connection is not reused: a check
should see what a new client would see, including a listener that stopped accepting.
"""

from __future__ import annotations

import asyncio

import h11

from meshlb.health.config import HealthCheckConfig, HttpProbeConfig
from meshlb.health.probes import MAX_REPLY, ProbeResult, address_of, close_stream, open_stream


class HttpProbe:
    def __init__(self, config: HealthCheckConfig) -> None:
        http = config.http or HttpProbeConfig()
        self.method = http.method.encode()
        self.path = http.path.encode()
        self.host = http.host
        self.headers = [(k.encode(), v.encode()) for k, v in http.headers.items()]
        self.statuses = http.statuses()
        self.expected = ", ".join(str(s) for s in http.expected_statuses)
        self.body_contains = http.body_contains.encode()

    async def check(self, host: str, port: int) -> ProbeResult:
        conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_REPLY)
        headers = [
            (b"host", (self.host or address_of(host, port)).encode()),
            (b"user-agent", b"meshlb-health"),
            (b"accept", b"*/*"),
            (b"connection", b"close"),
            *self.headers,
        ]
        request = conn.send(h11.Request(method=self.method, target=self.path, headers=headers))
        end = conn.send(h11.EndOfMessage())
        reader, writer = await open_stream(host, port)
        try:
            writer.write((request or b"") + (end or b""))
            return await self._read(conn, reader)
        except h11.RemoteProtocolError as exc:
            return ProbeResult(False, f"invalid HTTP response: {exc}")
        finally:
            await close_stream(writer)

    async def _read(self, conn: h11.Connection, reader: asyncio.StreamReader) -> ProbeResult:
        read = reader.read
        status = 0
        body = bytearray()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await read(65536))
            elif isinstance(event, h11.Response):
                status = event.status_code
                if status not in self.statuses:
                    return ProbeResult(False, f"HTTP {status} (expected {self.expected})")
                if not self.body_contains:
                    return ProbeResult(True, f"HTTP {status}")
            elif isinstance(event, h11.Data):
                body += event.data
                if self.body_contains in body:
                    return ProbeResult(True, f"HTTP {status}, body matches")
                if len(body) > MAX_REPLY:
                    break
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                if status == 0:
                    return ProbeResult(False, "connection closed before a response")
                break
        wanted = self.body_contains.decode(errors="replace")
        return ProbeResult(False, f"HTTP {status} but the body lacks {wanted!r}")
