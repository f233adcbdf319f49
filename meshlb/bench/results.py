"""What a worker reports: per-second rows and end-of-run totals, msgpack-encoded over a pipe.

Latency histograms travel as sparse (bucket index, count) pairs; see `histogram.py`.
"""

from __future__ import annotations

from enum import IntEnum

import msgspec

from meshlb.bench.histogram import Sparse


class ErrorKind(IntEnum):
    """Why a request got no response. Each error stands for one request attempt."""

    CONNECT = 0  # the connection for it could not be opened (refused, TLS, connect timeout)
    TIMEOUT = 1  # no complete response within --timeout
    RESET = 2  # the connection closed or the stream was reset while it was in flight
    PROTOCOL = 3  # the response could not be parsed (HTTP/1.1) or broke HTTP/2 rules


ERROR_NAMES = tuple(kind.name.lower() for kind in ErrorKind)


class SecondRow(msgspec.Struct, array_like=True):
    """One second of one worker's run (the last row of a run may be shorter)."""

    second: int  # 1-based: the row covers (second - 1, second] seconds after the start
    elapsed_ns: int  # the end of the interval, from the start of the measurement
    errors: int
    latency: Sparse  # corrected latency in rate mode
    latency_uncorrected: Sparse  # empty outside rate mode
    send_lag: Sparse = []  # rate mode: actual minus intended send time (see dispatch.py)
    held: int = 0  # rate mode: requests that waited for a free connection instead


class WorkerResult(msgspec.Struct):
    worker: int
    duration_ns: int
    rx_bytes: int
    status: dict[int, int]
    errors: list[int]  # indexed by ErrorKind
    rows: list[SecondRow]
    header_counts: dict[str, int]
    interrupted: bool = False
    fatal: str | None = None


class ProgressMessage(msgspec.Struct, tag="progress", array_like=True):
    worker: int
    row: SecondRow


class DoneMessage(msgspec.Struct, tag="done", array_like=True):
    result: WorkerResult


Message = ProgressMessage | DoneMessage

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Message)


def encode_message(message: Message) -> bytes:
    return _encoder.encode(message)


def decode_message(data: bytes) -> Message:
    return _decoder.decode(data)
