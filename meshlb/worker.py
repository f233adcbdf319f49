"""A worker process: serves traffic on SO_REUSEPORT listeners, as its supervisor directs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket

from meshlb.app import App, ListenError, ReloadPlan
from meshlb.config.load import ConfigError, validate
from meshlb.ipc import (
    Abort,
    Commit,
    Committed,
    Failed,
    Health,
    Prepare,
    Prepared,
    Ready,
    Start,
    Stats,
    Stop,
    encode,
    read_message,
)

log = logging.getLogger("meshlb.worker")

STATS_INTERVAL = 1.0


def apply_health(app: App, health: Health) -> None:
    """Take the supervisor's verdicts (active checks, admin drain) for every endpoint."""
    now = asyncio.get_running_loop().time()
    for name, states in health.clusters.items():
        cluster = app.clusters.get(name)
        if cluster is None:
            continue
        endpoint_set = cluster.endpoint_set
        for state in states:
            endpoint = endpoint_set.find(state.address)
            if endpoint is None:
                continue
            if endpoint.healthy != state.healthy:
                endpoint_set.set_active_health(endpoint, state.healthy, state.reason, now)
            if endpoint.draining != state.draining:
                endpoint_set.set_draining(endpoint, state.draining, state.reason)


async def run_worker(fd: int) -> int:
    # The supervisor handles signals for the group; a worker only stops when told to (or
    # when its supervisor goes away), so Ctrl-C in a terminal drains instead of killing.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sock = socket.socket(fileno=fd)
    reader, writer = await asyncio.open_connection(sock=sock)
    start = await read_message(reader)
    if not isinstance(start, Start):
        log.error("worker: expected a Start message, got %r", start)
        return 2
    try:
        config = validate(start.config, "supervisor")
        app = App(config, config_path=start.config_path, reuse_port=True, role="worker")
        await app.start()
    except (ConfigError, OSError) as exc:
        error = "; ".join(exc.errors) if isinstance(exc, ConfigError) else str(exc)
        log.error("worker %d cannot start: %s", start.index, error)
        writer.write(encode(Failed(index=start.index, error=error)))
        with contextlib.suppress(OSError):
            await writer.drain()
        return 1
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, app.request_stop)
    writer.write(encode(Ready(index=start.index, pid=os.getpid())))
    worker = _Reloads(app, start.index, writer)

    async def report() -> None:
        while True:
            await asyncio.sleep(STATS_INTERVAL)
            writer.write(encode(Stats(index=start.index, snapshot=app.snapshot())))

    async def listen() -> None:
        while True:
            message = await read_message(reader)
            if message is None or isinstance(message, Stop):
                break
            if isinstance(message, Health):
                apply_health(app, message)
            elif isinstance(message, Prepare | Commit | Abort) and not await worker.handle(message):
                break
        app.request_stop()

    tasks = [asyncio.ensure_future(report()), asyncio.ensure_future(listen())]
    await app.wait_for_stop()
    await app.shutdown()
    for task in tasks:
        task.cancel()
    with contextlib.suppress(Exception):
        writer.close()
    return worker.status


class _Reloads:
    """A worker's side of the two-phase reload: at most one prepared config at a time."""

    def __init__(self, app: App, index: int, writer: asyncio.StreamWriter) -> None:
        self.app = app
        self.index = index
        self.writer = writer
        self.prepared: tuple[int, ReloadPlan] | None = None
        self.status = 0  # the worker's exit status

    async def handle(self, message: Prepare | Commit | Abort) -> bool:
        """Act on one message; False when this worker must stop (it could not commit)."""
        prepared, self.prepared = self.prepared, None
        if prepared is not None and not (
            isinstance(message, Commit) and message.generation == prepared[0]
        ):
            self.app.discard(prepared[1])
        if isinstance(message, Prepare):
            errors: list[str] = []
            try:
                plan = self.app.prepare(validate(message.config, "supervisor"))
                self.prepared = (message.generation, plan)
            except (ConfigError, ListenError) as exc:
                errors = exc.errors
                log.warning("worker %d cannot take the new config: %s", self.index, errors)
            self.writer.write(encode(Prepared(self.index, message.generation, errors)))
        elif isinstance(message, Commit) and prepared is not None:
            try:
                await self.app.commit(prepared[1])
            except Exception:
                # Half switched: exit, to be started again with the config the group runs.
                log.exception("worker %d could not switch to the new config", self.index)
                self.status = 1
                return False
            self.writer.write(encode(Committed(self.index, message.generation)))
        return True
