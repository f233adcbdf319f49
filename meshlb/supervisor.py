"""The supervisor: one process that runs N workers and everything that must happen once.

Theory of operation. Workers are `python -m meshlb worker` processes, each joined to the
supervisor by a socketpair carrying `meshlb.ipc` messages. They all bind the same listening
addresses with SO_REUSEPORT and the kernel spreads connections over them. The supervisor
binds no traffic port: it runs the active health checks and remediation hooks against its
own copy of the clusters and sends every health change to the workers (`Health`), serves
the admin API (counters come from the workers' one-second `Stats`, merged), and owns reload.

Reload is all or nothing. The supervisor validates the file once and asks every worker to
prepare it (bind what it adds); only when all of them could does it tell them all to commit,
else all to abort, and the answer names every error. The config the supervisor holds is the
one all workers run, and a worker started again gets that one; a reload and the start of a
worker never overlap.

A worker that dies is started again after a short pause while the others keep serving
(`RestartPolicy`). One that cannot start with the running config (a port another process
took meanwhile, say) is tried again with growing pauses; after a few failures in a row the
supervisor stops the group and exits with status 1, so that a service manager notices.
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
from typing import Any, NamedTuple

import msgspec

from meshlb.admin.metrics import MetricsExporter
from meshlb.admin.server import AdminServer
from meshlb.admin.snapshot import MetricsSnapshot, merge
from meshlb.app import App, log_refused
from meshlb.config.load import ConfigError, load_file
from meshlb.config.schema import Config
from meshlb.config.units import Duration, Size
from meshlb.ipc import (
    Abort,
    Commit,
    Committed,
    EndpointState,
    Failed,
    Health,
    Message,
    Prepare,
    Prepared,
    Ready,
    Start,
    Stats,
    Stop,
    encode,
    read_message,
)

log = logging.getLogger("meshlb.supervisor")

RESTART_DELAY = 0.5
READY_TIMEOUT = 15.0
ANSWER_TIMEOUT = 10.0  # for a worker's answer to Prepare or Commit
MAX_START_FAILURES = 3


class Restart(NamedTuple):
    delay: float


class GiveUp(NamedTuple):
    why: str


class RestartPolicy:
    """What the supervisor does when a worker exits. `was_ready`: it had bound its listeners.

        exit after it was ready                          Restart(delay)
        exit before ready, the slot never ready yet      GiveUp: the group cannot start
        exit before ready, n-th time in a row (n < max)  Restart(delay * 2**n)
        exit before ready, max-th time in a row          GiveUp: the group cannot be kept up

    A worker that becomes ready resets the count of its slot.
    """

    def __init__(self, *, delay: float = RESTART_DELAY, max_failures: int = MAX_START_FAILURES):
        self.delay = delay
        self.max_failures = max_failures
        self._started: set[int] = set()  # slots that were ready once
        self._failures: dict[int, int] = {}  # slot -> failed starts in a row

    def ready(self, index: int) -> None:
        self._started.add(index)
        self._failures[index] = 0

    def exited(self, index: int, was_ready: bool) -> Restart | GiveUp:
        if was_ready:
            return Restart(self.delay)
        if index not in self._started:
            return GiveUp(f"worker {index} could not start")
        failures = self._failures.get(index, 0) + 1
        self._failures[index] = failures
        if failures >= self.max_failures:
            return GiveUp(
                f"worker {index} could not start again with the running config "
                f"({failures} tries in a row)"
            )
        return Restart(self.delay * 2**failures)

    def __repr__(self) -> str:
        return f"<RestartPolicy started={sorted(self._started)} failures={self._failures}>"


class _Worker:
    __slots__ = (
        "index",
        "proc",
        "writer",
        "ready",
        "stats",
        "task",
        "started_at",
        "error",
        "waiting",
    )

    def __init__(self, index: int) -> None:
        self.index = index
        self.proc: subprocess.Popen[bytes] | None = None
        self.writer: asyncio.StreamWriter | None = None  # None while no process runs
        self.ready = asyncio.Event()
        self.stats: MetricsSnapshot | None = None
        self.task: asyncio.Task[None] | None = None
        self.started_at = 0.0
        self.error = ""  # why it could not start, as it reported (Failed)
        # The reload round it owes an answer to: (generation, the answer's errors).
        self.waiting: tuple[int, asyncio.Future[list[str]]] | None = None

    def answer(self, generation: int, errors: list[str]) -> None:
        waiting = self.waiting
        if waiting is not None and waiting[0] == generation and not waiting[1].done():
            waiting[1].set_result(errors)

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
        self.policy = RestartPolicy()
        self._config_lock = asyncio.Lock()  # a reload, or a worker being started
        self._generation = 0

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
        loop.add_signal_handler(signal.SIGHUP, self._on_sighup)
        watcher = asyncio.ensure_future(self._watch_health())
        await self._done.wait()
        if self.failed:
            log.error("meshlb stops, status 1: %s", self.failed)
        log.info("shutting down %d workers", self.count)
        self.stopping = True
        watcher.cancel()
        if self.admin is not None:
            await self.admin.stop()
        await self._stop_workers()
        await self.app.shutdown()
        return 1 if self.failed else 0

    async def _spawn(self, w: _Worker) -> None:
        async with self._config_lock:  # it starts with the config every other worker runs
            if self.stopping:
                return
            parent, child = socket.socketpair()
            w.ready.clear()
            w.error = ""
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

    def _on_message(self, w: _Worker, message: Message) -> None:
        if isinstance(message, Stats):
            w.stats = message.snapshot
        elif isinstance(message, Ready):
            w.ready.set()
            self.policy.ready(w.index)
            log.info("worker %d ready (pid %d)", w.index, message.pid)
        elif isinstance(message, Prepared):
            w.answer(message.generation, message.errors)
        elif isinstance(message, Committed):
            w.answer(message.generation, [])
        elif isinstance(message, Failed):
            w.error = message.error

    async def _serve_worker(self, w: _Worker, reader: asyncio.StreamReader) -> None:
        while (message := await read_message(reader)) is not None:
            self._on_message(w, message)
        if w.writer is not None:
            w.writer.close()
            w.writer = None
        if w.waiting is not None:
            w.answer(w.waiting[0], ["exited during the reload"])
        assert w.proc is not None
        code = await asyncio.get_running_loop().run_in_executor(None, w.proc.wait)
        if self.stopping:
            return
        verdict = self.policy.exited(w.index, w.ready.is_set())
        if isinstance(verdict, GiveUp):
            self.failed = f"{verdict.why}: {w.error or f'it exited with status {code}'}"
            self._done.set()
            w.ready.set()  # the start-up wait in run() is over
            return
        reason = f": {w.error}" if w.error else ""
        log.error(
            "worker %d (pid %d) exited with status %s%s; starting it again in %gs",
            w.index,
            w.proc.pid,
            code,
            reason,
            verdict.delay,
        )
        self.restarts += 1
        w.stats = None
        await asyncio.sleep(verdict.delay)
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

    def _on_sighup(self) -> None:
        log.info("SIGHUP: reloading %s", self.app.config_path)
        asyncio.ensure_future(self.reload())

    async def reload(self) -> list[str]:
        """Load the config file again; every worker runs it when this returns [], none does
        when it returns errors (each naming the workers it came from)."""
        path = self.app.config_path
        if path is None:
            return ["this process was started without a config file (-c); nothing to reload"]
        async with self._config_lock:
            try:
                config = load_file(path)
            except ConfigError as exc:
                log_refused(exc.errors)
                return exc.errors
            self._generation += 1
            generation = self._generation
            # A worker with no process now is started after this, with the config it decides.
            workers = [w for w in self.workers if w.writer is not None]
            prepare = Prepare(generation=generation, config=config_builtins(config))
            errors = _by_worker(await self._ask(workers, generation, prepare))
            if errors:
                for w in workers:
                    w.send(encode(Abort(generation=generation)))
                log_refused(errors)
                return errors
            await self.app.commit(self.app.prepare(config))
            self._health_versions = {}  # the workers' new clusters get the health picture
            late = _by_worker(await self._ask(workers, generation, Commit(generation=generation)))
            for line in late:  # it is started again, with the new config
                log.warning("reload: %s", line)
            log.info(
                "reload applied: all %d workers run %s (reload #%d)",
                self.count,
                path,
                self.app.reloads,
            )
            return []

    async def _ask(
        self, workers: list[_Worker], generation: int, message: Prepare | Commit
    ) -> dict[int, list[str]]:
        """Send `message` to each worker and collect its answer, as errors per worker."""
        loop = asyncio.get_running_loop()
        for w in workers:
            w.waiting = (generation, loop.create_future())
            w.send(encode(message))
        futures = [w.waiting[1] for w in workers if w.waiting is not None]
        if futures:
            await asyncio.wait(futures, timeout=ANSWER_TIMEOUT)
        answers: dict[int, list[str]] = {}
        for w in workers:
            assert w.waiting is not None
            future = w.waiting[1]
            answers[w.index] = (
                future.result() if future.done() else [f"no answer within {ANSWER_TIMEOUT:g}s"]
            )
            w.waiting = None
        return answers


def _by_worker(answers: dict[int, list[str]]) -> list[str]:
    """Each distinct error once, naming the workers that met it."""
    seen: dict[str, list[int]] = {}
    for index, errors in sorted(answers.items()):
        for error in errors:
            seen.setdefault(error, []).append(index)
    out = []
    for error, indexes in seen.items():
        who = "worker" if len(indexes) == 1 else "workers"
        out.append(f"{error} ({who} {', '.join(map(str, indexes))})")
    return out


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
