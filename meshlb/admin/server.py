"""The admin listener: JSON API, Prometheus metrics and the status page.

It talks to the running proxy only through `Control`. Each connection carries one request
(see `meshlb.admin.http`). Up to MAX_CONNECTIONS are open at once; when a new one arrives
beyond that, the one that has waited longest without sending its whole request is closed to
make room, so that peers who connect and say nothing can never lock `/healthz` out.
Before routing, every request passes three guards, in order:

1. Host (DNS rebinding): while bound to loopback, a Host header must name a loopback address
   or `localhost`, so that a web page cannot reach the API under a domain it controls.
2. Token: with `admin.token` set, `Authorization: Bearer <token>` is required (compared in
   constant time), for every path.
3. Cross-site POST (CSRF): a POST whose `Origin` is not this listener, or which a browser
   marks `Sec-Fetch-Site: cross-site`/`same-site`, is refused; tools send neither header.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import ipaddress
import logging
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import msgspec

from meshlb.admin.control import Control
from meshlb.admin.http import BadRequest, Request, Response, read_request
from meshlb.admin.metrics import MetricsExporter
from meshlb.admin.stats import RateWindow, summarize
from meshlb.admin.status_page import CONTENT_SECURITY_POLICY, PAGE
from meshlb.config.schema import AdminConfig
from meshlb.config.units import parse_address

log = logging.getLogger("meshlb.admin")

REQUEST_TIMEOUT = 10.0  # to receive a whole request
WRITE_TIMEOUT = 10.0
MAX_CONNECTIONS = 1024  # the admin listener shares the supervisor's loop: bound its cost

Handler = Callable[[Request], Awaitable[Response]]

_json = msgspec.json.Encoder()


def json_response(status: int, doc: object) -> Response:
    return Response(status, _json.encode(doc) + b"\n", "application/json")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _host_of(authority: str) -> str:
    """The host part of a Host header or an Origin's netloc ("[::1]:9901" -> "[::1]")."""
    if authority.startswith("["):
        return authority[: authority.find("]") + 1]
    return authority.rsplit(":", 1)[0] if authority.count(":") == 1 else authority


class AdminServer:
    def __init__(
        self, control: Control, config: AdminConfig, *, metrics: MetricsExporter | None = None
    ) -> None:
        self.control = control
        self.config = config
        self.metrics = metrics if metrics is not None else MetricsExporter(control)
        self._token_digest = (
            hashlib.sha256(config.token.encode()).digest() if config.token else None
        )
        try:
            self._bind = parse_address(
                config.address, default_host="127.0.0.1", allow_any_port=True
            )
        except ValueError as exc:
            raise ValueError(f"admin.address: {exc}") from None
        self._loopback = _is_loopback(self._bind[0])
        self._rates = RateWindow()
        self._server: asyncio.Server | None = None
        self._address: tuple[str, int] | None = None
        self._connections: set[asyncio.Task[None]] = set()
        # Connections still waiting for their request, oldest first: the ones to evict.
        self._reading: dict[asyncio.StreamWriter, None] = {}
        self._routes: dict[str, dict[str, Handler]] = {
            "/": {"GET": self._page},
            "/stats.json": {"GET": self._stats},
            "/clusters": {"GET": self._clusters},
            "/config": {"GET": self._config},
            "/healthz": {"GET": self._healthz},
            "/readyz": {"GET": self._readyz},
            "/metrics": {"GET": self._metrics},
            "/reload": {"POST": self._reload},
        }

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind and serve. Does nothing when `config.enabled` is false."""
        if not self.config.enabled or self._server is not None:
            return
        host, port = self._bind
        self._server = await asyncio.start_server(
            self._accept, host, port, reuse_address=True, limit=64 * 1024
        )
        sockname = self._server.sockets[0].getsockname()
        self._address = (str(sockname[0]), int(sockname[1]))
        log.info("admin listener on %s:%d", *self._address)

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) actually bound; raises RuntimeError before `start()`."""
        if self._address is None:
            raise RuntimeError("the admin server is not started")
        return self._address

    def __repr__(self) -> str:
        where = f"{self._address[0]}:{self._address[1]}" if self._address else "stopped"
        auth = "token" if self._token_digest else "open"
        return f"<AdminServer {where} {auth} connections={len(self._connections)}>"

    # -- one connection -----------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is None or (len(self._connections) >= MAX_CONNECTIONS and not self._reading):
            writer.close()  # every connection is busy with a request: refuse this one
            return
        if len(self._connections) >= MAX_CONNECTIONS:
            oldest = next(iter(self._reading))
            del self._reading[oldest]
            oldest.transport.abort()
        self._connections.add(task)
        self._reading[writer] = None
        try:
            await self._serve_one(reader, writer)
        finally:
            self._connections.discard(task)
            self._reading.pop(writer, None)
            writer.close()
            with contextlib.suppress(OSError, asyncio.TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), 1.0)

    async def _serve_one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head_only = False
        try:
            try:
                request = await asyncio.wait_for(read_request(reader), REQUEST_TIMEOUT)
            finally:
                self._reading.pop(writer, None)
            head_only = request.method == "HEAD"
            response = await self.handle(request)
        except BadRequest as exc:
            response = json_response(exc.status, {"error": str(exc)})
        except TimeoutError:
            response = json_response(408, {"error": "request not received in time"})
        except (ConnectionError, OSError):
            return
        except Exception:
            log.exception("admin request failed")
            response = json_response(500, {"error": "internal error, see the log"})
        writer.write(response.encode(head_only=head_only))
        with contextlib.suppress(ConnectionError, OSError, asyncio.TimeoutError):
            await asyncio.wait_for(writer.drain(), WRITE_TIMEOUT)

    async def handle(self, request: Request) -> Response:
        """Guards, then routing: the whole API as one method of a parsed request."""
        refusal = self._guard(request)
        if refusal is not None:
            return refusal
        methods = self._routes.get(request.path)
        if methods is None:
            methods = self._endpoint_action(request)
        if methods is None:
            return json_response(404, {"error": f"no such path: {request.path}"})
        method = "GET" if request.method == "HEAD" else request.method
        handler = methods.get(method)
        if handler is None:
            allow = sorted({*methods, *(["HEAD"] if "GET" in methods else [])})
            response = json_response(405, {"error": f"{request.method} not allowed"})
            response.headers.append(("Allow", ", ".join(allow)))
            return response
        return await handler(request)

    def _guard(self, request: Request) -> Response | None:
        if self._loopback and not _is_loopback(_host_of(request.headers.get("host", ""))):
            return json_response(403, {"error": "Host must name a loopback address"})
        if self._token_digest is not None:
            scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
            given = hashlib.sha256(credentials.strip().encode()).digest()
            if scheme.lower() != "bearer" or not hmac.compare_digest(given, self._token_digest):
                response = json_response(401, {"error": "a valid bearer token is required"})
                response.headers.append(("WWW-Authenticate", 'Bearer realm="meshlb"'))
                return response
        if request.method == "POST":
            origin = request.headers.get("origin")
            fetch_site = request.headers.get("sec-fetch-site", "")
            if fetch_site in ("cross-site", "same-site") or (
                origin is not None and urlsplit(origin).netloc != request.headers.get("host")
            ):
                return json_response(403, {"error": "cross-site requests are refused"})
        return None

    # -- handlers -----------------------------------------------------------------------------

    def _endpoint_action(self, request: Request) -> dict[str, Handler] | None:
        parts = request.segments()
        if len(parts) != 5 or parts[0] != "clusters" or parts[2] != "endpoints":
            return None
        if parts[4] not in ("drain", "undrain"):
            return None
        cluster, address, draining = parts[1], parts[3], parts[4] == "drain"

        async def action(request: Request) -> Response:
            error = self.control.drain(cluster, address, draining)
            if error is not None:
                return json_response(404, {"error": error})
            log.info("admin: %s %s/%s", parts[4], cluster, address)
            return json_response(
                200, {"cluster": cluster, "endpoint": address, "draining": draining}
            )

        return {"POST": action}

    async def _page(self, request: Request) -> Response:
        return Response(
            200,
            PAGE,
            "text/html; charset=utf-8",
            [
                ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
                ("Referrer-Policy", "no-referrer"),
            ],
        )

    async def _stats(self, request: Request) -> Response:
        snapshot = self.control.snapshot()
        return json_response(200, summarize(snapshot, self._rates.observe(snapshot)))

    async def _clusters(self, request: Request) -> Response:
        snapshot = self.control.snapshot()
        return json_response(
            200,
            {
                "taken_at": snapshot.taken_at,
                "workers": snapshot.workers,
                "clusters": snapshot.clusters,
            },
        )

    async def _config(self, request: Request) -> Response:
        return json_response(200, self.control.config_view())

    async def _healthz(self, request: Request) -> Response:
        return Response(200, b"ok\n")

    async def _readyz(self, request: Request) -> Response:
        if self.control.ready():
            return Response(200, b"ready\n")
        return Response(503, b"not ready\n")

    async def _metrics(self, request: Request) -> Response:
        return Response(200, self.metrics.render(), self.metrics.content_type)

    async def _reload(self, request: Request) -> Response:
        errors = await self.control.reload()
        if errors:
            log.warning("admin: reload refused with %d error(s)", len(errors))
            return json_response(400, {"errors": errors})
        log.info("admin: config reloaded")
        return json_response(200, {"ok": True})
