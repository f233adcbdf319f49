"""What one worker's connections share: where to connect, where to record, what to send."""

from __future__ import annotations

import asyncio
import ssl
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from meshlb.bench.dispatch import OpenDispatcher
from meshlb.bench.recorder import Recorder

if TYPE_CHECKING:
    from meshlb.bench.connection import Connection

UNLIMITED = sys.maxsize


def _ignore(connection: Connection) -> None:
    pass


class RunContext:
    """`remaining` is the closed-model budget: connections take one request from it before each
    send and stop when it reaches 0. In the open model `dispatcher` decides instead."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        address: tuple[str, int],
        ssl_context: ssl.SSLContext | None,
        server_hostname: str | None,
        http2: bool,
        connect_timeout_s: float,
        recorder: Recorder,
        by_header: bytes | None,
        dispatcher: OpenDispatcher | None,
        on_idle: Callable[[Connection], None],
        on_fatal: Callable[[str], None],
    ) -> None:
        self.loop = loop
        self.host, self.port = address
        self.ssl = ssl_context
        self.server_hostname = server_hostname
        self.http2 = http2
        self.connect_timeout_s = connect_timeout_s
        self.recorder = recorder
        self.by_header = by_header  # lowercase header name, or None
        self.dispatcher = dispatcher
        self.on_idle = on_idle
        self.on_fatal = on_fatal
        # Called once per connection, when its first connect succeeds or fails.
        self.on_settled: Callable[[Connection], None] = _ignore
        self.remaining = UNLIMITED
        self.budgeted = False  # True with -n: connections must take from `remaining`
        self.stopping = False

    def __repr__(self) -> str:
        mode = "closed" if self.dispatcher is None else "open"
        return (
            f"<RunContext {self.host}:{self.port} {mode} remaining={self.remaining} "
            f"stopping={self.stopping}>"
        )
