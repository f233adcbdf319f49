"""JSON access log: one line per request, encoded with msgspec, flushed in batches."""

from __future__ import annotations

import sys
import time
from typing import BinaryIO

import msgspec


class AccessEntry(msgspec.Struct, omit_defaults=True):
    ts: float
    listener: str
    client: str
    method: str
    path: str
    status: int
    route: str = ""
    cluster: str = ""
    endpoint: str = ""
    bytes_in: int = 0
    bytes_out: int = 0
    duration_ms: float = 0.0
    upstream_ms: float = 0.0
    attempts: int = 0
    request_id: str = ""
    reason: str = ""
    pid: int = 0  # the worker process that served it


class AccessLog:
    """Buffers encoded lines and writes them when `flush` is called (every tick) or on size."""

    def __init__(self, target: str) -> None:
        self._owned = target not in ("stdout", "stderr")
        self._out: BinaryIO
        if target == "stdout":
            self._out = sys.stdout.buffer
        elif target == "stderr":
            self._out = sys.stderr.buffer
        else:
            self._out = open(target, "ab")  # noqa: SIM115 - kept open for the process life
        self._encoder = msgspec.json.Encoder()
        self._buffer = bytearray()

    def write(self, entry: AccessEntry) -> None:
        self._encoder.encode_into(entry, self._buffer, -1)
        self._buffer += b"\n"
        if len(self._buffer) > 64 * 1024:
            self.flush()

    def flush(self) -> None:
        if self._buffer:
            try:
                self._out.write(self._buffer)
                self._out.flush()
            except (OSError, ValueError):
                pass
            self._buffer.clear()

    def close(self) -> None:
        self.flush()
        if self._owned:
            self._out.close()

    @staticmethod
    def now() -> float:
        return time.time()
