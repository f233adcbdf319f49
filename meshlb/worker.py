"""A worker process: serves traffic on SO_REUSEPORT listeners, as its supervisor directs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket

from meshlb.app import App
from meshlb.config.load import ConfigError, validate
from meshlb.ipc import Health, Ready, Reload, Start, Stats, Stop, encode, read_message

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
    except ConfigError as exc:
        log.error("worker %d: %s", start.index, exc)
        return 1
    app = App(config, config_path=start.config_path, reuse_port=True, role="worker")
    try:
        await app.start()
    except OSError as exc:
        log.error("worker %d cannot listen: %s", start.index, exc)
        return 1
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, app.request_stop)
    writer.write(encode(Ready(index=start.index, pid=os.getpid())))

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
            elif isinstance(message, Reload):
                try:
                    await app.apply_config(validate(message.config, "supervisor"))
                except (ConfigError, OSError) as exc:
                    log.error("worker %d could not reload: %s", start.index, exc)
        app.request_stop()

    tasks = [asyncio.ensure_future(report()), asyncio.ensure_future(listen())]
    await app.wait_for_stop()
    await app.shutdown()
    for task in tasks:
        task.cancel()
    with contextlib.suppress(Exception):
        writer.close()
    return 0
