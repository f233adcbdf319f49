"""JSON access log: one line per request, encoded with msgspec, flushed in batches.

Batches go to a `LineWriter`, whose thread does the writing: a reader that stops reading
costs log lines (counted in `dropped`), never the event loop's time.
"""

from __future__ import annotations

import os
import time

import msgspec

from meshlb.linewriter import ACCESS_LOG_CAPACITY, LineWriter


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
    """Buffers encoded lines and hands them to the writer when `flush` is called (every tick)
    or on size."""

    def __init__(self, target: str, capacity: int = ACCESS_LOG_CAPACITY) -> None:
        if target == "stdout":
            self._out = LineWriter(1, capacity, name="access-log-writer")
        elif target == "stderr":
            self._out = LineWriter(2, capacity, name="access-log-writer")
        else:
            fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
            self._out = LineWriter(fd, capacity, name="access-log-writer", owned=True)
        self._encoder = msgspec.json.Encoder()
        self._buffer = bytearray()

    @property
    def dropped(self) -> int:
        """Lines lost because the output did not keep up (or failed)."""
        return self._out.dropped

    def write(self, entry: AccessEntry) -> None:
        self._encoder.encode_into(entry, self._buffer, -1)
        self._buffer += b"\n"
        if len(self._buffer) > 64 * 1024:
            self.flush()

    def flush(self) -> None:
        if self._buffer:
            self._out.put(bytes(self._buffer))
            self._buffer.clear()

    def close(self) -> None:
        self.flush()
        self._out.close()

    @staticmethod
    def now() -> float:
        return time.time()
