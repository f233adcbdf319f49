"""Health check kinds ("probes"), registered by name.

A probe checks one endpoint once: `await probe.check(host, port)` returns a `ProbeResult`
(ok, detail). It may also raise: the checker maps `OSError`, `EOFError`-like stream errors and
timeouts to failed results, and enforces `health.timeout` around the whole call, so a probe
never needs a timer of its own.

Built-in kinds: `http`, `tcp`, `smtp`, `pgsql` (one module each, imported on first use).
Third-party kinds are installed under the entry-point group `meshlb.probes`; an entry point
names a factory `(config: HealthCheckConfig) -> Probe`, which reads its options from
`config.params`. `register` adds a kind at run time (tests, embedding applications).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import NamedTuple, Protocol

from meshlb.health.config import HealthCheckConfig

ENTRY_POINT_GROUP = "meshlb.probes"
MAX_REPLY = 64 * 1024  # bytes a probe reads at most


class ProbeResult(NamedTuple):
    ok: bool
    detail: str  # short and human: "HTTP 503 (expected 200-399)", "connection refused"


class Probe(Protocol):
    async def check(self, host: str, port: int) -> ProbeResult: ...


ProbeFactory = Callable[[HealthCheckConfig], Probe]

BUILTIN: dict[str, str] = {
    "http": "meshlb.health.probe_http:HttpProbe",
    "tcp": "meshlb.health.probe_tcp:TcpProbe",
    "smtp": "meshlb.health.probe_smtp:SmtpProbe",
    "pgsql": "meshlb.health.probe_pgsql:PgsqlProbe",
}

_REGISTRY: dict[str, ProbeFactory] = {}


def register(kind: str, factory: ProbeFactory) -> None:
    """Register (or replace) the probe factory of `kind`."""
    _REGISTRY[kind] = factory


def known_kinds() -> set[str]:
    """Every kind `create` accepts: built in, registered, or installed as an entry point."""
    installed = {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)}
    return set(BUILTIN) | set(_REGISTRY) | installed


def create(config: HealthCheckConfig) -> Probe:
    """The probe for `config.kind`, configured from `config`."""
    return _factory(config.kind)(config)


def _factory(kind: str) -> ProbeFactory:
    factory = _REGISTRY.get(kind)
    if factory is not None:
        return factory
    if kind in BUILTIN:
        module, _, name = BUILTIN[kind].partition(":")
        factory = getattr(importlib.import_module(module), name)
    else:
        found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == kind]
        if not found:
            known = ", ".join(sorted(known_kinds()))
            raise KeyError(f"unknown health check kind {kind!r} (known: {known})")
        factory = found[0].load()
    _REGISTRY[kind] = factory
    return factory


def address_of(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def open_stream(host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(host, port, limit=MAX_REPLY)


async def close_stream(writer: asyncio.StreamWriter) -> None:
    """Close without waiting on a peer that may never acknowledge."""
    writer.close()
    with contextlib.suppress(OSError, asyncio.TimeoutError):
        async with asyncio.timeout(0.1):
            await writer.wait_closed()


def describe_error(exc: BaseException) -> str:
    """A probe exception as a failed check's detail."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset"
    if isinstance(exc, asyncio.IncompleteReadError):
        return f"connection closed after {len(exc.partial)} byte(s) of the reply"
    if isinstance(exc, asyncio.LimitOverrunError):
        return "reply line too long"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {exc}"
