"""The supervisor: one process that runs N workers and everything that must happen once.

Theory of operation. Workers are `python -m meshlb worker` processes, each joined to the
supervisor by a socketpair carrying `meshlb.ipc` messages. They all bind the same listening
addresses with SO_REUSEPORT and the kernel spreads connections over them. The supervisor
binds no traffic port: it runs the active health checks and remediation hooks against its
own copy of the clusters and sends every health change to the workers (`Health`), serves
the admin API (counters come from the workers' one-second `Stats`, merged), and owns reload
(it validates the file once, then sends the same config to every worker). A worker that
dies is started again after a short pause while the others keep serving; a worker that
fails before it was ever ready (a port in use, say) stops the whole group with its error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import msgspec

from meshlb.admin.metrics import MetricsExporter
from meshlb.admin.server import AdminServer
from meshlb.admin.snapshot import MetricsSnapshot, merge
from meshlb.app import App
from meshlb.config.schema import Config
from meshlb.config.units import Duration, Size
from meshlb.ipc import (
    EndpointState,
    Health,
    Ready,
    Reload,
    Start,
    Stats,
    Stop,
    encode,
    read_message,
)

log = logging.getLogger("meshlb.supervisor")

RESTART_DELAY = 0.5
READY_TIMEOUT = 15.0


class _Worker:
    __slots__ = ("index", "proc", "writer", "ready", "stats", "task", "started_at")

    def __init__(self, index: int) -> None:
        self.index = index
        self.proc: subprocess.Popen[bytes] | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.ready = asyncio.Event()
        self.stats: MetricsSnapshot | None = None
        self.task: asyncio.Task[None] | None = None
        self.started_at = 0.0

    def send(self, data: bytes) -> None:
        if self.writer is not None and not self.writer.is_closing():
            self.writer.write(data)


class Supervisor:
    """Runs the workers; is the admin API's `Control`."""

    def __init__(self, config: Config, *, config_path: str | Path | None, workers: int) -> None:
        self.app = App(config, config_path=config_path, role="supervisor")
        self.count = workers
        self.workers = [_Worker(i) for i in range(workers)]
        self.stopping = False
        self.failed: str | None = None
        self.admin: AdminServer | None = None
        self._health_versions: dict[str, int] = {}
        self._done = asyncio.Event()
        self.restarts = 0

    # -- lifecycle --------------------------------------------------------------------------

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        await self.app.start()
        for w in self.workers:
            await self._spawn(w)
        try:
            async with asyncio.timeout(READY_TIMEOUT):
                await asyncio.gather(*(w.ready.wait() for w in self.workers))
        except TimeoutError:
            self.failed = self.failed or "workers did not become ready in time"
        if self.failed:
            log.error("meshlb cannot start: %s", self.failed)
            await self._stop_workers()
            await self.app.shutdown()
            return 1
        log.info("%d workers ready", self.count)
        config = self.app.config.admin
        if config.enabled:
            admin = AdminServer(self, config, metrics=MetricsExporter(self))
            try:
                await admin.start()
                self.admin = admin
                log.info("admin API and status page on http://%s:%d/", *admin.address)
            except OSError as exc:
                log.error("admin API disabled: cannot listen on %s: %s", config.address, exc)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._done.set)
        loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(self.reload()))
        watcher = asyncio.ensure_future(self._watch_health())
        await self._done.wait()
        log.info("shutting down %d workers", self.count)
        self.stopping = True
        watcher.cancel()
        if self.admin is not None:
            await self.admin.stop()
        await self._stop_workers()
        await self.app.shutdown()
        return 0

    async def _spawn(self, w: _Worker) -> None:
        parent, child = socket.socketpair()
        w.ready.clear()
        w.started_at = time.monotonic()
        w.proc = subprocess.Popen(
            [sys.executable, "-m", "meshlb", "worker", "--fd", str(child.fileno())],
            pass_fds=[child.fileno()],
        )
        child.close()
        reader, writer = await asyncio.open_connection(sock=parent)
        w.writer = writer
        raw = config_builtins(self.app.config)
        path = str(self.app.config_path) if self.app.config_path else None
        writer.write(encode(Start(config=raw, config_path=path, index=w.index)))
        writer.write(encode(self._health_message()))
        w.task = asyncio.ensure_future(self._serve_worker(w, reader))

    async def _serve_worker(self, w: _Worker, reader: asyncio.StreamReader) -> None:
        while True:
            message = await read_message(reader)
            if message is None:
                break
            if isinstance(message, Ready):
                w.ready.set()
                log.info("worker %d ready (pid %d)", w.index, message.pid)
            elif isinstance(message, Stats):
                w.stats = message.snapshot
        assert w.proc is not None
        code = await asyncio.get_running_loop().run_in_executor(None, w.proc.wait)
        if self.stopping:
            return
        if not w.ready.is_set():
            self.failed = f"worker {w.index} exited with status {code} before it was ready"
            self._done.set()
            w.ready.set()
            return
        log.error(
            "worker %d (pid %d) exited with status %s; restarting it", w.index, w.proc.pid, code
        )
        self.restarts += 1
        w.stats = None
        await asyncio.sleep(RESTART_DELAY)
        if not self.stopping:
            await self._spawn(w)

    async def _stop_workers(self) -> None:
        self.stopping = True
        for w in self.workers:
            w.send(encode(Stop()))
        deadline = time.monotonic() + float(self.app.config.drain_timeout) + 5
        for w in self.workers:
            if w.proc is None:
                continue
            remaining = max(0.1, deadline - time.monotonic())
            try:
                await asyncio.get_running_loop().run_in_executor(None, w.proc.wait, remaining)
            except subprocess.TimeoutExpired:
                w.proc.kill()
            if w.task is not None:
                w.task.cancel()

    # -- health fan-out ---------------------------------------------------------------------

    def _health_message(self) -> Health:
        clusters = {}
        for name, cluster in self.app.clusters.items():
            clusters[name] = [
                EndpointState(e.address, e.healthy, e.draining, e.last_reason)
                for e in cluster.endpoint_set.endpoints
            ]
        return Health(clusters=clusters)

    async def _watch_health(self) -> None:
        """Send the health picture to every worker whenever a cluster's snapshot changed."""
        while True:
            await asyncio.sleep(0.1)
            versions = {n: c.endpoint_set.snapshot.version for n, c in self.app.clusters.items()}
            if versions != self._health_versions:
                self._health_versions = versions
                self._broadcast(encode(self._health_message()))

    def _broadcast(self, data: bytes) -> None:
        for w in self.workers:
            w.send(data)

    # -- Control ----------------------------------------------------------------------------

    def snapshot(self) -> MetricsSnapshot:
        from meshlb.introspect import cluster_view

        merged = merge([w.stats for w in self.workers if w.stats is not None])
        now = time.monotonic()
        ours = {
            name: cluster_view(c, now, self.app.remediation.get(name))
            for name, c in self.app.clusters.items()
        }
        for view in merged.clusters:
            own = ours.get(view.name)
            if own is None:
                continue
            # Health flags are the supervisor's; traffic counters are the workers' sum.
            flags = {e.address: e for e in own.endpoints}
            for endpoint in view.endpoints:
                mine = flags.get(endpoint.address)
                if mine is not None:
                    endpoint.failed_active_check = mine.failed_active_check
                    endpoint.draining = mine.draining
                    endpoint.hooks = mine.hooks
                    endpoint.healthy = endpoint.healthy and mine.healthy
                    endpoint.last_reason = endpoint.last_reason or mine.last_reason
            view.health_checks = own.health_checks
        if not merged.clusters:
            merged.clusters = list(ours.values())
        merged.workers = sum(1 for w in self.workers if w.stats is not None)
        return merged

    def config_view(self) -> dict[str, Any]:
        view = self.app.config_view()
        view["workers"] = self.count
        return view

    def drain(self, cluster: str, address: str, draining: bool) -> str | None:
        return self.app.drain(cluster, address, draining)  # the watcher fans it out

    def ready(self) -> bool:
        return not self.stopping and all(w.ready.is_set() for w in self.workers)

    async def reload(self) -> list[str]:
        errors = await self.app.reload()
        if not errors:
            self._broadcast(encode(Reload(config=config_builtins(self.app.config))))
            self._health_versions = {}
        return errors


def config_builtins(config: Config) -> dict[str, Any]:
    """The config as plain data that validates back to the same config."""

    def units(value: Any) -> Any:
        if isinstance(value, Duration):
            return float(value)
        if isinstance(value, Size):
            return int(value)
        raise TypeError(f"cannot encode {type(value).__name__}")

    out: dict[str, Any] = msgspec.to_builtins(config, enc_hook=units)
    return out


def resolve_workers(value: int | str) -> int:
    if value == "auto":
        return max(1, len(os.sched_getaffinity(0)))
    return int(value)


async def run_supervisor(config: Config, config_path: str | None, workers: int) -> int:
    supervisor = Supervisor(config, config_path=config_path, workers=workers)
    with contextlib.suppress(asyncio.CancelledError):
        return await supervisor.run()
    return 1
