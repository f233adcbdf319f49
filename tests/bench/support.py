"""Targets for the end-to-end bench tests (tests/e2e/test_bench_*.py), and a way to run bench.

Each backend runs its own asyncio loop in a thread, listens on 127.0.0.1 on a free port and
counts what it served, so a test can compare the generator's report with the server's own
count. The unit tests in this folder use none of this.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import httptools
from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.events import DataReceived, RequestReceived, StreamEnded, StreamReset

ROOT = Path(__file__).resolve().parents[2]


def bench(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run `python -m meshlb.bench ARGS` to completion."""
    return subprocess.run(
        [sys.executable, "-m", "meshlb.bench", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=timeout,
        env=bench_env(),
    )


def bench_json(*args: str, timeout: float = 60, returncode: int = 0) -> tuple[dict[str, Any], str]:
    """Run bench with `--json -` and return the document and the text summary."""
    out = bench(*args, "--json", timeout=timeout)
    assert out.returncode == returncode, out.stderr
    return json.loads(out.stdout), out.stderr


def bench_env() -> dict[str, str]:
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{path}" if path else str(ROOT)}


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 / localhost: (cert.pem, key.pem)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def server_tls(cert: tuple[Path, Path], alpn: list[str]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert[0]), str(cert[1]))
    context.set_alpn_protocols(alpn)
    return context


class ThreadedServer:
    """An asyncio server on its own loop and thread; `with` starts and stops it."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.tls = tls
        self.port = 0
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._ready = threading.Event()
        self._server: asyncio.base_events.Server | None = None
        self.lock = threading.Lock()

    def protocol(self) -> asyncio.Protocol:
        raise NotImplementedError

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.port}/"

    def __enter__(self) -> Self:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("backend did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self._server = self.loop.run_until_complete(
            self.loop.create_server(self.protocol, "127.0.0.1", 0, ssl=self.tls)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            self.loop.run_forever()
        finally:
            self._server.close()
            self.loop.close()


@dataclass
class H1Options:
    body: bytes = b"hello world\n"
    delay_s: float = 0.0  # answer every request this late (without blocking the loop)
    stall_at: int | None = None  # block the whole server once, at this request number
    stall_s: float = 1.0
    header: tuple[str, list[str]] | None = None  # a response header cycling through values
    chunked: bool = False
    close_every: int = 0  # answer every Nth request with Connection: close
    never_answer: bool = False


@dataclass
class H1Stats:
    requests: int = 0
    methods: dict[str, int] = field(default_factory=dict)
    bodies: list[int] = field(default_factory=list)  # request body sizes


class H1Backend(ThreadedServer):
    """An HTTP/1.1 server that counts requests; see `H1Options` for its behaviours."""

    def __init__(self, options: H1Options | None = None, tls: ssl.SSLContext | None = None) -> None:
        super().__init__(tls)
        self.options = options or H1Options()
        self.stats = H1Stats()

    def protocol(self) -> asyncio.Protocol:
        return _H1ServerProtocol(self)

    @property
    def requests(self) -> int:
        with self.lock:
            return self.stats.requests


class _H1ServerProtocol(asyncio.Protocol):
    def __init__(self, backend: H1Backend) -> None:
        self.backend = backend
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.body = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self.transport is not None:
                self.transport.close()

    def on_body(self, body: bytes) -> None:
        self.body += len(body)

    def on_message_complete(self) -> None:
        backend, options = self.backend, self.backend.options
        method = self.parser.get_method().decode()
        with backend.lock:
            backend.stats.requests += 1
            number = backend.stats.requests
            backend.stats.methods[method] = backend.stats.methods.get(method, 0) + 1
            backend.stats.bodies.append(self.body)
        self.body = 0
        if options.never_answer:
            return
        if options.stall_at is not None and number == options.stall_at:
            time.sleep(options.stall_s)  # the whole server stops, as in a GC pause
        response = self._response(number, method == "HEAD")
        if options.delay_s:
            asyncio.get_running_loop().call_later(options.delay_s, self._write, response)
        else:
            self._write(response)

    def _write(self, response: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(response)
            if b"Connection: close" in response:
                self.transport.close()

    def _response(self, number: int, head: bool) -> bytes:
        options = self.backend.options
        lines = ["HTTP/1.1 200 OK", "Content-Type: text/plain"]
        if options.header is not None:
            name, values = options.header
            lines.append(f"{name}: {values[(number - 1) % len(values)]}")
        if options.close_every and number % options.close_every == 0:
            lines.append("Connection: close")
        body = options.body
        if options.chunked:
            lines.append("Transfer-Encoding: chunked")
            half = len(body) // 2
            payload = (
                b"".join(
                    f"{len(part):x}\r\n".encode() + part + b"\r\n"
                    for part in (body[:half], body[half:])
                    if part
                )
                + b"0\r\n\r\n"
            )
        else:
            lines.append(f"Content-Length: {len(body)}")
            payload = body
        head_bytes = ("\r\n".join(lines) + "\r\n\r\n").encode()
        return head_bytes if head else head_bytes + payload


class H2Backend(ThreadedServer):
    """An HTTP/2 server (h2c with prior knowledge, or TLS with ALPN h2) that counts requests
    and remembers the most streams it saw open at once on one connection."""

    def __init__(
        self,
        tls: ssl.SSLContext | None = None,
        delay_s: float = 0.0,
        body: bytes = b"hello world\n",
    ) -> None:
        super().__init__(tls)
        self.delay_s = delay_s
        self.body = body
        self.requests = 0
        self.max_concurrent = 0

    def protocol(self) -> asyncio.Protocol:
        return _H2ServerProtocol(self)


class _H2ServerProtocol(asyncio.Protocol):
    def __init__(self, backend: H2Backend) -> None:
        self.backend = backend
        self.h2 = H2Connection(H2Configuration(client_side=False, header_encoding=None))
        self.transport: asyncio.Transport | None = None
        self.open: set[int] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.h2.initiate_connection()
        self._flush()

    def data_received(self, data: bytes) -> None:
        for event in self.h2.receive_data(data):
            if isinstance(event, RequestReceived):
                self.open.add(event.stream_id)
                backend = self.backend
                with backend.lock:
                    backend.requests += 1
                    backend.max_concurrent = max(backend.max_concurrent, len(self.open))
            elif isinstance(event, DataReceived):
                self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, StreamEnded):
                self._answer_later(event.stream_id)
            elif isinstance(event, StreamReset):
                self.open.discard(event.stream_id)
        self._flush()

    def _answer_later(self, stream_id: int) -> None:
        if self.backend.delay_s:
            asyncio.get_running_loop().call_later(self.backend.delay_s, self._answer, stream_id)
        else:
            self._answer(stream_id)

    def _answer(self, stream_id: int) -> None:
        if stream_id not in self.open:
            return
        self.open.discard(stream_id)
        body = self.backend.body
        self.h2.send_headers(
            stream_id,
            [
                (b":status", b"200"),
                (b"x-upstream", b"h2"),
                (b"content-length", str(len(body)).encode()),
            ],
        )
        self.h2.send_data(stream_id, body, end_stream=True)
        self._flush()

    def _flush(self) -> None:
        data = self.h2.data_to_send()
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(0.02)
