"""Messages between the supervisor and its workers: msgspec MessagePack, length-prefixed.

Supervisor -> worker: the config to run (`Start`), endpoint health decided by the
supervisor's active checks and the admin API (`Health`), and `Stop`. Worker -> supervisor:
`Ready` once its listeners are bound (or `Failed`, and it exits), and a `Stats` snapshot
every second.

A reload takes two rounds. The supervisor sends `Prepare` to every worker; each binds what
the new config adds and answers `Prepared` with the errors it met (none: ready to switch).
Then the supervisor sends either `Commit` to all, each answering `Committed` once it runs
the new config, or `Abort` to all, and each closes what it had bound for it.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Any

import msgspec

from meshlb.admin.snapshot import MetricsSnapshot


class Start(msgspec.Struct, tag=True):
    config: dict[str, Any]  # the config as plain data, validated again by the worker
    config_path: str | None
    index: int


class Prepare(msgspec.Struct, tag=True):
    generation: int  # numbers the reload; every answer and the decision carry it
    config: dict[str, Any]


class Commit(msgspec.Struct, tag=True):
    generation: int


class Abort(msgspec.Struct, tag=True):
    generation: int


class EndpointState(msgspec.Struct, array_like=True):
    address: str
    healthy: bool  # active health checks
    draining: bool
    reason: str


class Health(msgspec.Struct, tag=True):
    clusters: dict[str, list[EndpointState]]


class Stop(msgspec.Struct, tag=True):
    pass


class Ready(msgspec.Struct, tag=True):
    index: int
    pid: int


class Failed(msgspec.Struct, tag=True):
    index: int
    error: str  # why it cannot run the config it was started with


class Prepared(msgspec.Struct, tag=True):
    index: int
    generation: int
    errors: list[str]  # empty: the worker can switch to the new config


class Committed(msgspec.Struct, tag=True):
    index: int
    generation: int


class Stats(msgspec.Struct, tag=True):
    index: int
    snapshot: MetricsSnapshot


Message = (
    Start | Prepare | Commit | Abort | Health | Stop | Ready | Failed | Prepared | Committed | Stats
)

_HEADER = struct.Struct("!I")
_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Message)
MAX_MESSAGE = 64 * 1024 * 1024


def encode(message: Message) -> bytes:
    body = _encoder.encode(message)
    return _HEADER.pack(len(body)) + body


async def read_message(reader: asyncio.StreamReader) -> Message | None:
    """The next message, or None when the other side closed the channel."""
    try:
        header = await reader.readexactly(_HEADER.size)
        (size,) = _HEADER.unpack(header)
        if size > MAX_MESSAGE:
            raise ValueError(f"IPC message of {size} bytes is too large")
        return _decoder.decode(await reader.readexactly(size))
    except asyncio.IncompleteReadError:
        return None
