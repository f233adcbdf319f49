"""`meshlb demo`: the proxy in front of built-in demo backends, all in one process.

Three "compute" nodes say which node answered, an "assets" node serves a few files, and a
"mail API" node accepts messages as JSON. Each is a small keep-alive HTTP/1.1 server.
"""

from __future__ import annotations

import asyncio
import json
import socket

import httptools

from meshlb.config.load import load_text
from meshlb.config.schema import Config

ASSETS = {
    b"/logo.svg": (
        b"image/svg+xml",
        b'<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"/>\n',
    ),
    b"/app.css": (b"text/css", b"body { font-family: sans-serif }\n"),
}


class DemoBackend(asyncio.Protocol):
    """One demo node: answers every request with a small body naming itself."""

    def __init__(self, name: str, kind: str) -> None:
        self.name = name
        self.kind = kind
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        self.body = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self._send(400, b"text/plain", b"bad request\n", keep=False)

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        method = self.parser.get_method()
        path = self.url.partition(b"?")[0]
        keep = self.parser.should_keep_alive()
        if self.kind == "assets":
            asset = ASSETS.get(path)
            if asset is None:
                self._send(404, b"text/plain", b"no such asset\n", keep)
            else:
                self._send(200, asset[0], asset[1], keep, extra=b"cache-control: max-age=60\r\n")
        elif self.kind == "mail" and method == b"POST":
            reply = {"node": self.name, "queued": True, "bytes": len(self.body)}
            self._send(202, b"application/json", json.dumps(reply).encode() + b"\n", keep)
        else:
            reply = {"node": self.name, "method": method.decode(), "path": self.url.decode()}
            self._send(200, b"application/json", json.dumps(reply).encode() + b"\n", keep)
        self.url = b""
        self.body.clear()

    def _send(self, status: int, ctype: bytes, body: bytes, keep: bool, extra: bytes = b"") -> None:
        assert self.transport is not None
        head = (
            b"HTTP/1.1 %d %s\r\ncontent-type: %s\r\ncontent-length: %d\r\nx-node: %s\r\n%s%s\r\n"
            % (
                status,
                b"OK" if status < 300 else b"Error",
                ctype,
                len(body),
                self.name.encode(),
                extra,
                b"" if keep else b"connection: close\r\n",
            )
        )
        self.transport.write(head + body)
        if not keep:
            self.transport.close()


async def start_backend(
    name: str, kind: str, host: str = "127.0.0.1", port: int = 0
) -> tuple[asyncio.base_events.Server, int]:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: DemoBackend(name, kind), host, port, family=socket.AF_INET
    )
    return server, server.sockets[0].getsockname()[1]


DEMO_TEMPLATE = """
access_log = "stdout"
drain_timeout = "5s"

[[listeners]]
name = "edge"
address = "{listen}"

[clusters.compute]
balancer = "round_robin"
endpoints = [{compute}]

[clusters.assets]
endpoints = ["127.0.0.1:{assets}"]

[clusters.mail]
endpoints = ["127.0.0.1:{mail}"]

[[routes]]
name = "assets"
match.path_prefix = "/assets/"
prefix_rewrite = "/"
cluster = "assets"

[[routes]]
name = "mail-api"
match.path_prefix = "/mail/"
prefix_rewrite = "/"
cluster = "mail"

[[routes]]
name = "compute"
cluster = "compute"
response_headers_add = {{ "x-served-by" = "meshlb" }}
"""


async def start_demo_backends() -> tuple[list[asyncio.base_events.Server], dict[str, list[int]]]:
    servers = []
    ports: dict[str, list[int]] = {"compute": [], "assets": [], "mail": []}
    for i in range(1, 4):
        server, port = await start_backend(f"compute-{i}", "compute")
        servers.append(server)
        ports["compute"].append(port)
    for kind, name in (("assets", "assets-1"), ("mail", "mail-api-1")):
        server, port = await start_backend(name, kind)
        servers.append(server)
        ports[kind].append(port)
    return servers, ports


def demo_config(listen: str, ports: dict[str, list[int]]) -> Config:
    compute = ", ".join(f'"127.0.0.1:{p}"' for p in ports["compute"])
    text = DEMO_TEMPLATE.format(
        listen=listen, compute=compute, assets=ports["assets"][0], mail=ports["mail"][0]
    )
    return load_text(text, "<demo>")


def banner(listen: str) -> str:
    url = f"http://{listen}"
    return f"""meshlb demo: proxy on {url} in front of 3 compute nodes, an assets node
and a mail API node. Try:
  curl -s {url}/hello                       # round robin over compute-1..3 (see "node")
  curl -s {url}/assets/logo.svg             # asset storage, prefix rewritten to /logo.svg
  curl -s -d '{{"to":"ops@example.com"}}' {url}/mail/send   # the mail API
  meshlb bench {url}/hello -d 5s --by-header x-node         # load + balance check
Access log on stdout. Ctrl-C stops.
"""
