"""Composition root: a validated Config becomes running listeners, clusters and timers.

`App` is also the `Control` the admin API drives: snapshots, drain, reload, readiness.

Reload keeps what can be kept. A listener whose protocol and address did not change keeps
its socket (no connection is refused) and only has its routes and limits swapped; sessions
already open finish what they are doing with the objects they hold. Clusters are rebuilt,
but an endpoint that still exists keeps its Endpoint object and with it its health, ejection
and drain state; the old connection pools close their idle connections at once and the busy
ones as their exchanges end.

Reload is all or nothing, in two steps. `prepare` binds the sockets of the listeners the new
config adds (listening, not yet served) and fails, with every one of them closed again, if
any cannot be bound; nothing that runs has changed yet. `commit` builds the clusters and
listeners (they adopt the running Endpoint objects, so they are only built when they take
over), serves the new sockets and swaps everything over; `discard` closes what `prepare`
bound. A supervisor prepares the same config in every worker and commits only if all could.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from meshlb.accesslog import AccessLog
from meshlb.admin.metrics import MetricsExporter
from meshlb.admin.server import AdminServer
from meshlb.admin.snapshot import MetricsSnapshot
from meshlb.cluster.cluster import Cluster
from meshlb.config.load import ConfigError, load_file
from meshlb.config.schema import Config, ListenerConfig, RouteConfig
from meshlb.config.units import parse_address
from meshlb.health.checker import HealthChecker
from meshlb.health.remediation import RemediationRunner
from meshlb.proxy.accept import Acceptor
from meshlb.proxy.http import HttpSession
from meshlb.proxy.listener import ListenerContext
from meshlb.proxy.tcp import TcpListenerContext, TcpSession
from meshlb.routing import Route, Router
from meshlb.stats import Stats

log = logging.getLogger("meshlb")

TICK = 0.1  # seconds between deadline sweeps


def build_router(
    config: Config, listener: ListenerConfig, name: str, clusters: dict[str, Cluster]
) -> Router[Cluster]:
    if not config.routes:
        only = next(iter(clusters))
        return Router([Route(RouteConfig(cluster=only, name="default"), clusters[only], 0)])
    routes = [
        Route(rc, clusters[rc.cluster], i)
        for i, rc in enumerate(config.routes)
        if rc.listeners is None or name in rc.listeners
    ]
    return Router(routes)


def bind_socket(address: str, *, reuse_port: bool) -> socket.socket:
    """A listening TCP socket; SO_REUSEPORT lets several worker processes share the port."""
    host, port = parse_address(address, default_host="0.0.0.0", allow_any_port=True)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


def _listener_name(lc: ListenerConfig, index: int) -> str:
    return lc.name or f"listener{index}"


class ListenError(OSError):
    """Listeners that could not be bound, each named with its address and the reason."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.strerror = "; ".join(errors)
        self.errors = errors


def bind_listeners(todo: list[tuple[str, str]], *, reuse_port: bool) -> list[socket.socket]:
    """A listening socket for each (name, address); if any cannot be bound, ListenError
    naming every one that failed, and those that were bound are closed again."""
    sockets: list[socket.socket] = []
    errors: list[str] = []
    for name, address in todo:
        try:
            sockets.append(bind_socket(address, reuse_port=reuse_port))
        except OSError as exc:
            errors.append(f"listener {name!r} on {address}: {exc.strerror or exc}")
    if errors:
        for sock in sockets:
            sock.close()
        raise ListenError(errors)
    return sockets


def log_refused(errors: list[str]) -> None:
    for line in errors:
        log.error("reload rejected: %s", line)
    log.error("reload refused: nothing of it was applied; the old config keeps running")


class _Bound:
    """One listening socket and what serves it."""

    __slots__ = ("key", "server", "http", "tcp")

    def __init__(
        self,
        key: tuple[str, str],
        server: Acceptor,
        http: ListenerContext | None,
        tcp: TcpListenerContext | None,
    ) -> None:
        self.key = key
        self.server = server
        self.http = http
        self.tcp = tcp

    def sweep(self, now: float) -> None:
        if self.http is not None:
            self.http.sweep(now)
        if self.tcp is not None:
            self.tcp.sweep(now)

    def busy(self) -> bool:
        return bool(self.http is not None and self.http.sessions) or bool(
            self.tcp is not None and self.tcp.sessions
        )

    def close_sessions(self) -> None:
        for session in list(self.http.sessions if self.http is not None else ()):
            session.close()
        for tcp_session in list(self.tcp.sessions if self.tcp is not None else ()):
            tcp_session.close()

    def shutdown_sessions(self) -> None:
        """Idle HTTP connections close now; busy ones and TCP sessions finish first."""
        if self.http is not None:
            self.http.closing = True
            for session in list(self.http.sessions):
                session.shutdown()


class ReloadPlan:
    """A config ready to take over. Each of its listeners, in config order, either keeps a
    running listener (same protocol and address) or has a socket bound for it; `gone` are
    the running listeners it drops."""

    __slots__ = ("config", "slots", "gone")

    def __init__(
        self, config: Config, slots: list[_Bound | socket.socket], gone: list[_Bound]
    ) -> None:
        self.config = config
        self.slots = slots
        self.gone = gone

    def __repr__(self) -> str:
        fresh = sum(1 for slot in self.slots if isinstance(slot, socket.socket))
        kept = len(self.slots) - fresh
        return f"<ReloadPlan kept={kept} new={fresh} gone={len(self.gone)}>"


class App:
    def __init__(
        self,
        config: Config,
        *,
        config_path: str | Path | None = None,
        reuse_port: bool = False,
        role: str = "single",
    ) -> None:
        """`role`: "single" runs everything in this process; "worker" serves traffic only
        (the supervisor checks health and runs the admin API); "supervisor" binds no
        listener and runs health checks, remediation and nothing else of the data path."""
        self.role = role
        self.config = config
        self.config_path = Path(config_path) if config_path is not None else None
        self.reuse_port = reuse_port
        self.stats = Stats()
        self.access_log = AccessLog(config.access_log) if config.access_log != "off" else None
        self.clusters: dict[str, Cluster] = {}
        self.bound: list[_Bound] = []
        self._ticker: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._shutting_down = False
        self._reload_lock = asyncio.Lock()
        self.reloads = 0
        self.clusters = self._build_clusters(config, {})
        self._pending = self._build_listeners(config, self.clusters)
        self.admin: AdminServer | None = None
        self.remediation: dict[str, RemediationRunner] = self._build_remediation(config, {})

    # -- building ---------------------------------------------------------------------------

    @staticmethod
    def _build_clusters(config: Config, previous: dict[str, Cluster]) -> dict[str, Cluster]:
        return {name: Cluster(name, cc, previous.get(name)) for name, cc in config.clusters.items()}

    @staticmethod
    def _build_remediation(
        config: Config, previous: dict[str, RemediationRunner]
    ) -> dict[str, RemediationRunner]:
        runners = {}
        for name, cc in config.clusters.items():
            if cc.on_unhealthy is None:
                continue
            old = previous.get(name)
            kept = old is not None and old.config == cc.on_unhealthy
            runners[name] = (
                old if kept and old is not None else RemediationRunner(name, cc.on_unhealthy)
            )
        return runners

    def _build_listeners(
        self, config: Config, clusters: dict[str, Cluster]
    ) -> list[tuple[tuple[str, str], ListenerContext | None, TcpListenerContext | None]]:
        out: list[tuple[tuple[str, str], ListenerContext | None, TcpListenerContext | None]] = []
        for i, lc in enumerate(config.listeners):
            name = _listener_name(lc, i)
            key = (lc.protocol, lc.address)
            if lc.protocol == "tcp":
                assert lc.cluster is not None
                tcp = TcpListenerContext(name, lc, clusters[lc.cluster], self.stats)
                out.append((key, None, tcp))
            else:
                router = build_router(config, lc, name, clusters)
                ctx = ListenerContext(name, lc, router, self.stats, self.access_log)
                out.append((key, ctx, None))
        return out

    @property
    def listeners(self) -> list[ListenerContext]:
        return [b.http for b in self.bound if b.http is not None]

    @property
    def tcp_listeners(self) -> list[TcpListenerContext]:
        return [b.tcp for b in self.bound if b.tcp is not None]

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """Where each listener is bound, in config order (useful with port 0)."""
        out = []
        for b in self.bound:
            sockname = b.server.sockets[0].getsockname()
            out.append((sockname[0], sockname[1]))
        return out

    # -- running ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind every listener and start serving; ListenError names those that cannot bind."""
        if self.role != "supervisor":
            todo = [
                (_listener_name(lc, i), lc.address) for i, lc in enumerate(self.config.listeners)
            ]
            sockets = bind_listeners(todo, reuse_port=self.reuse_port)
            for (key, http, tcp), sock in zip(self._pending, sockets, strict=True):
                self.bound.append(await self._serve(key, http, tcp, sock))
        self._pending = []
        await self._start_health_checks(self.clusters)
        self._ticker = asyncio.ensure_future(self._tick())
        if self.role == "single":
            await self.start_admin()

    async def _start_health_checks(self, clusters: dict[str, Cluster]) -> None:
        """Active checks run once per process group: here unless this is a worker."""
        if self.role == "worker":
            return
        for cluster in clusters.values():
            if cluster.config.health is not None:
                checker = HealthChecker(cluster.endpoint_set, cluster.config.health)
                await checker.start()
                cluster.health_checker = checker

    @staticmethod
    async def _stop_health_checks(clusters: dict[str, Cluster]) -> None:
        for cluster in clusters.values():
            if cluster.health_checker is not None:
                await cluster.health_checker.stop()
                cluster.health_checker = None

    async def start_admin(self) -> None:
        """The admin API is best effort: a port in use costs the API, never the proxy."""
        config = self.config.admin
        if not config.enabled:
            return
        admin = AdminServer(self, config, metrics=MetricsExporter(self))
        try:
            await admin.start()
        except OSError as exc:
            log.error("admin API disabled: cannot listen on %s: %s", config.address, exc.strerror)
            return
        self.admin = admin
        host, port = admin.address
        log.info("admin API and status page on http://%s:%d/", host, port)

    async def _serve(
        self,
        key: tuple[str, str],
        http: ListenerContext | None,
        tcp: TcpListenerContext | None,
        sock: socket.socket,
    ) -> _Bound:
        factory: Callable[[], asyncio.Protocol]
        if http is not None:
            factory, name = _session_factory(http), http.name
            log.info("listener %s on %s (http, %s)", http.name, key[1], http.codec)
        else:
            assert tcp is not None
            factory, name = _tcp_factory(tcp), tcp.name
            log.info("listener %s on %s (tcp -> %s)", tcp.name, key[1], tcp.cluster.name)
        server = Acceptor(sock, factory, name)
        await server.start()
        return _Bound(key, server, http, tcp)

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        seconds = 0.0
        while True:
            await asyncio.sleep(TICK)
            try:
                now = loop.time()
                for b in self.bound:
                    b.sweep(now)
                for cluster in self.clusters.values():
                    cluster.endpoint_set.tick(now)
                    for waiter in cluster.limits.tick(now):
                        waiter.pending_expired()  # no connection within pending_timeout
                seconds += TICK
                if seconds >= 1.0:
                    seconds = 0.0
                    for cluster in self.clusters.values():
                        cluster.pool.sweep(now)
                    self._tick_remediation()
                if self.access_log is not None:
                    self.access_log.flush()
            except Exception:  # the ticker must survive any bug in what it drives
                log.exception("error in the periodic sweep")

    def _tick_remediation(self) -> None:
        if not self.remediation or self.role == "worker":
            return
        from meshlb.introspect import endpoint_views

        now, wall = time.monotonic(), time.time()
        for name, runner in self.remediation.items():
            cluster = self.clusters.get(name)
            if cluster is not None:
                runner.tick(endpoint_views(cluster, now, runner), wall)

    def request_stop(self) -> None:
        self._stopping.set()

    async def wait_for_stop(self) -> None:
        await self._stopping.wait()

    async def run_until_stopped(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self._on_signal)
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGHUP, self._on_sighup)
        await self._stopping.wait()
        await self.shutdown()

    def _on_sighup(self) -> None:
        log.info("SIGHUP: reloading %s", self.config_path)
        asyncio.ensure_future(self.reload())

    def _on_signal(self) -> None:
        if self._stopping.is_set():
            log.warning("second signal: exiting without draining")
            for b in self.bound:
                b.close_sessions()
            raise SystemExit(1)
        log.info("shutting down: draining for up to %gs", float(self.config.drain_timeout))
        self._stopping.set()

    async def shutdown(self) -> None:
        """Stop accepting, let in-flight requests finish up to the drain timeout, then close."""
        self._shutting_down = True
        for b in self.bound:
            b.server.close()
            b.shutdown_sessions()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + float(self.config.drain_timeout)
        while loop.time() < deadline and any(b.busy() for b in self.bound):
            await asyncio.sleep(0.05)
        for b in self.bound:
            b.close_sessions()
        if self._ticker is not None:
            self._ticker.cancel()
        if self.admin is not None:
            await self.admin.stop()
        await self._stop_health_checks(self.clusters)
        for runner in self.remediation.values():
            await runner.close()
        for cluster in self.clusters.values():
            cluster.pool.close_all()
        if self.access_log is not None:
            self.access_log.close()
        await asyncio.sleep(0)

    # -- Control (the admin API's view) -----------------------------------------------------

    def snapshot(self) -> MetricsSnapshot:
        from meshlb.introspect import snapshot

        return snapshot(self)

    def config_view(self) -> dict[str, Any]:
        from meshlb.config.redact import redacted
        from meshlb.supervisor import config_builtins

        return config_builtins(redacted(self.config))

    def drain(self, cluster: str, address: str, draining: bool) -> str | None:
        found = self.clusters.get(cluster)
        if found is None:
            return f"no cluster named {cluster!r}"
        endpoint = found.endpoint_set.find(address)
        if endpoint is None:
            return f"cluster {cluster!r} has no endpoint {address!r}"
        found.endpoint_set.set_draining(
            endpoint,
            draining,
            "drained by the admin API" if draining else "undrained by the admin API",
        )
        return None

    def ready(self) -> bool:
        return not self._shutting_down

    async def reload(self) -> list[str]:
        """Load the config file again and apply all of it; on any error apply none of it
        (the old config keeps running) and return every error."""
        if self.config_path is None:
            return ["this process was started without a config file (-c); nothing to reload"]
        async with self._reload_lock:
            try:
                plan = self.prepare(load_file(self.config_path))
            except (ConfigError, ListenError) as exc:
                log_refused(exc.errors)
                return exc.errors
            await self.commit(plan)
            log.info("reload applied: %s is running (reload #%d)", self.config_path, self.reloads)
            return []

    def prepare(self, config: Config) -> ReloadPlan:
        """Bind the listeners `config` adds; ListenError, with none left bound, if any cannot
        be. Nothing that runs changes until `commit`."""
        if self.role == "supervisor":
            return ReloadPlan(config, [], [])
        running = list(self.bound)
        slots: list[_Bound | None] = []
        todo: list[tuple[str, str]] = []
        for i, lc in enumerate(config.listeners):
            kept = next((b for b in running if b.key == (lc.protocol, lc.address)), None)
            if kept is not None:
                running.remove(kept)
            else:
                todo.append((_listener_name(lc, i), lc.address))
            slots.append(kept)
        fresh = iter(bind_listeners(todo, reuse_port=self.reuse_port))
        return ReloadPlan(
            config, [slot if slot is not None else next(fresh) for slot in slots], running
        )

    def discard(self, plan: ReloadPlan) -> None:
        """Give up a prepared config: close the sockets bound for it."""
        for slot in plan.slots:
            if isinstance(slot, socket.socket):
                slot.close()

    async def commit(self, plan: ReloadPlan) -> None:
        """Make the prepared config the running one."""
        config = plan.config
        old_clusters = self.clusters
        clusters = self._build_clusters(config, old_clusters)
        if self.role != "supervisor":
            wanted = self._build_listeners(config, clusters)
            served: dict[int, _Bound] = {}
            for i, ((key, http, tcp), slot) in enumerate(zip(wanted, plan.slots, strict=True)):
                if isinstance(slot, socket.socket):
                    served[i] = await self._serve(key, http, tcp, slot)
            # From here on no await: the switch is one step for every session.
            bound: list[_Bound] = []
            for i, ((_, http, tcp), slot) in enumerate(zip(wanted, plan.slots, strict=True)):
                if isinstance(slot, socket.socket):
                    bound.append(served[i])
                    continue
                if http is not None and slot.http is not None:
                    slot.http.update(http)
                elif tcp is not None and slot.tcp is not None:
                    slot.tcp.update(tcp)
                bound.append(slot)
            for gone in plan.gone:
                log.info("reload: closing listener on %s", gone.key[1])
                gone.server.close()
                gone.shutdown_sessions()
            self.bound = bound
        self.clusters = clusters
        self.config = config
        self.reloads += 1
        runners = self._build_remediation(config, self.remediation)
        for name, runner in self.remediation.items():
            if runners.get(name) is not runner:
                await runner.close()
        self.remediation = runners
        for cluster in old_clusters.values():
            cluster.pool.retire()
        await self._stop_health_checks(old_clusters)
        await self._start_health_checks(clusters)


def _session_factory(ctx: ListenerContext) -> Callable[[], HttpSession]:
    return lambda: HttpSession(ctx)


def _tcp_factory(ctx: TcpListenerContext) -> Callable[[], TcpSession]:
    return lambda: TcpSession(ctx)
