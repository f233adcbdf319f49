"""Composition root: a validated Config becomes running listeners, clusters and timers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Callable

from meshlb.accesslog import AccessLog
from meshlb.cluster.cluster import Cluster
from meshlb.config.schema import Config, ListenerConfig
from meshlb.config.units import parse_address
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
        from meshlb.config.schema import RouteConfig

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


def _session_factory(ctx: ListenerContext) -> Callable[[], HttpSession]:
    return lambda: HttpSession(ctx)


def _tcp_factory(ctx: TcpListenerContext) -> Callable[[], TcpSession]:
    return lambda: TcpSession(ctx)


class App:
    def __init__(self, config: Config, *, reuse_port: bool = False) -> None:
        self.config = config
        self.reuse_port = reuse_port
        self.stats = Stats()
        self.clusters = {name: Cluster(name, cc) for name, cc in config.clusters.items()}
        self.access_log = AccessLog(config.access_log) if config.access_log != "off" else None
        self.listeners: list[ListenerContext] = []
        self.tcp_listeners: list[TcpListenerContext] = []
        self.servers: list[asyncio.base_events.Server] = []
        self._ticker: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        for i, lc in enumerate(config.listeners):
            name = lc.name or f"listener{i}"
            if lc.protocol == "tcp":
                assert lc.cluster is not None
                cluster = self.clusters[lc.cluster]
                self.tcp_listeners.append(TcpListenerContext(name, lc, cluster, self.stats))
                continue
            router = build_router(config, lc, name, self.clusters)
            self.listeners.append(ListenerContext(name, lc, router, self.stats, self.access_log))

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """Where each listener is bound (useful with port 0)."""
        out = []
        for server in self.servers:
            sockname = server.sockets[0].getsockname()
            out.append((sockname[0], sockname[1]))
        return out

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        for ctx in self.listeners:
            sock = bind_socket(ctx.config.address, reuse_port=self.reuse_port)
            server = await loop.create_server(_session_factory(ctx), sock=sock, backlog=1024)
            self.servers.append(server)
            log.info("listener %s on %s (%s)", ctx.name, ctx.config.address, ctx.codec)
        for tcp in self.tcp_listeners:
            sock = bind_socket(tcp.config.address, reuse_port=self.reuse_port)
            server = await loop.create_server(_tcp_factory(tcp), sock=sock, backlog=1024)
            self.servers.append(server)
            log.info("tcp listener %s on %s -> %s", tcp.name, tcp.config.address, tcp.cluster.name)
        self._ticker = asyncio.ensure_future(self._tick())

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        seconds = 0.0
        while True:
            await asyncio.sleep(TICK)
            now = loop.time()
            for ctx in self.listeners:
                ctx.sweep(now)
            for tcp in self.tcp_listeners:
                tcp.sweep(now)
            seconds += TICK
            if seconds >= 1.0:
                seconds = 0.0
                for cluster in self.clusters.values():
                    cluster.pool.sweep(now)
            if self.access_log is not None:
                self.access_log.flush()

    def request_stop(self) -> None:
        self._stopping.set()

    async def run_until_stopped(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self._on_signal)
        await self._stopping.wait()
        await self.shutdown()

    def _on_signal(self) -> None:
        if self._stopping.is_set():
            log.warning("second signal: exiting without draining")
            for ctx in self.listeners:
                for session in list(ctx.sessions):
                    session.close()
            raise SystemExit(1)
        log.info("shutting down: draining for up to %gs", float(self.config.drain_timeout))
        self._stopping.set()

    async def shutdown(self) -> None:
        """Stop accepting, let in-flight requests finish up to the drain timeout, then close."""
        for server in self.servers:
            server.close()
        for ctx in self.listeners:
            ctx.closing = True
            for session in list(ctx.sessions):
                session.shutdown()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + float(self.config.drain_timeout)
        while loop.time() < deadline and (
            any(ctx.sessions for ctx in self.listeners)
            or any(tcp.sessions for tcp in self.tcp_listeners)
        ):
            await asyncio.sleep(0.05)
        for ctx in self.listeners:
            for session in list(ctx.sessions):
                session.close()
        for tcp in self.tcp_listeners:
            for tcp_session in list(tcp.sessions):
                tcp_session.close()
        if self._ticker is not None:
            self._ticker.cancel()
        for cluster in self.clusters.values():
            cluster.pool.close_all()
        if self.access_log is not None:
            self.access_log.close()
        await asyncio.sleep(0)
