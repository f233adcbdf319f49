"""The `tcp` health check: connect, optionally send bytes and expect bytes in the reply.

With neither `send` nor `expect` it proves only that something accepts connections, which is
the right check for a layer-4 cluster whose protocol meshlb does not speak. With `expect`, the
reply is read until it contains the expected bytes, the peer closes, or 64 KiB were read.
"""

from __future__ import annotations

from meshlb.health.config import HealthCheckConfig, TcpProbeConfig
from meshlb.health.probes import MAX_REPLY, ProbeResult, close_stream, open_stream


class TcpProbe:
    def __init__(self, config: HealthCheckConfig) -> None:
        self.send, self.expect = (config.tcp or TcpProbeConfig()).payload()

    async def check(self, host: str, port: int) -> ProbeResult:
        reader, writer = await open_stream(host, port)
        try:
            if self.send:
                writer.write(self.send)
                await writer.drain()
            if not self.expect:
                return ProbeResult(True, "connected")
            received = bytearray()
            while self.expect not in received:
                chunk = await reader.read(65536)
                if not chunk:
                    return ProbeResult(False, f"closed without sending {self.expect!r}")
                received += chunk
                if len(received) > MAX_REPLY:
                    return ProbeResult(False, f"no {self.expect!r} in the first 64 KiB")
            return ProbeResult(True, "expected reply")
        finally:
            await close_stream(writer)
