"""Every probe kind against a real small server on 127.0.0.1, and the probe registry."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Coroutine, Iterator
from typing import Any

import pytest

from meshlb.config.units import Duration
from meshlb.health import probes
from meshlb.health.checker import HealthChecker
from meshlb.health.config import (
    HealthCheckConfig,
    HttpProbeConfig,
    PgsqlProbeConfig,
    SmtpProbeConfig,
    TcpProbeConfig,
)
from meshlb.health.probes import ProbeResult
from meshlb.model import Endpoint
from tests.faults import FaultThread
from tests.health.fakes import pg_error, pgsql, replying, serve, smtp


def run(coro: Coroutine[Any, Any, ProbeResult]) -> ProbeResult:
    return asyncio.run(coro)


def check(config: HealthCheckConfig, port: int) -> Coroutine[Any, Any, ProbeResult]:
    return probes.create(config).check("127.0.0.1", port)


@pytest.fixture
def backend() -> Iterator[FaultThread]:
    server = FaultThread("h1")
    yield server
    server.stop()


# http ----------------------------------------------------------------------------------------


def test_http_passes_on_an_expected_status(backend: FaultThread) -> None:
    assert run(check(HealthCheckConfig(), backend.port)) == ProbeResult(True, "HTTP 200")


def test_http_fails_on_an_unexpected_status_and_says_which(backend: FaultThread) -> None:
    backend.set_mode("503")
    result = run(check(HealthCheckConfig(), backend.port))
    assert result == ProbeResult(False, "HTTP 503 (expected 200-399)")


def test_http_expected_statuses_can_list_codes_and_ranges(backend: FaultThread) -> None:
    backend.set_mode("503")
    config = HealthCheckConfig(http=HttpProbeConfig(expected_statuses=[200, "500-503"]))
    assert run(check(config, backend.port)).ok


def test_http_body_must_contain_the_substring(backend: FaultThread) -> None:
    ok = HealthCheckConfig(http=HttpProbeConfig(body_contains='"node": "h1"'))
    assert run(check(ok, backend.port)) == ProbeResult(True, "HTTP 200, body matches")
    bad = HealthCheckConfig(http=HttpProbeConfig(body_contains="database: up"))
    assert run(check(bad, backend.port)) == ProbeResult(
        False, "HTTP 200 but the body lacks 'database: up'"
    )


def test_http_sends_method_path_host_and_headers() -> None:
    received: list[bytes] = []

    async def scenario() -> ProbeResult:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            received.append(await reader.readuntil(b"\r\n\r\n"))
            writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
            await writer.drain()

        http = HttpProbeConfig(
            method="HEAD", path="/healthz?deep=1", host="svc.internal", headers={"X-Probe": "1"}
        )
        async with serve(handler) as port:
            return await check(HealthCheckConfig(http=http), port)

    assert run(scenario()) == ProbeResult(True, "HTTP 204")
    head = received[0].lower()
    assert head.startswith(b"head /healthz?deep=1 http/1.1\r\n")
    assert b"host: svc.internal\r\n" in head and b"x-probe: 1\r\n" in head


def test_http_rejects_a_malformed_answer() -> None:
    async def scenario() -> ProbeResult:
        reply = b"SSH-2.0-OpenSSH_9.2\r\n\r\n"
        async with serve(replying(reply, after=b"\r\n\r\n")) as port:
            return await check(HealthCheckConfig(), port)

    result = run(scenario())
    assert not result.ok and result.detail.startswith("invalid HTTP response")


def test_http_fails_when_the_peer_resets_without_answering(backend: FaultThread) -> None:
    backend.set_mode("reset")
    assert checked(HealthCheckConfig(), backend.port) == ProbeResult(False, "connection reset")


# failures mapped by the checker: refused, timeout ----------------------------------------


class _OneEndpoint:
    """The part of an EndpointSet that `check_once` reads."""

    def __init__(self, port: int) -> None:
        self.cluster = "t"
        self.endpoints = (Endpoint("t", "127.0.0.1", port),)


def checked(config: HealthCheckConfig, port: int) -> ProbeResult:
    """One check through `HealthChecker.check_once`: timeout and exceptions mapped."""
    es = _OneEndpoint(port)
    checker = HealthChecker(es, config)  # type: ignore[arg-type]
    return asyncio.run(checker.check_once(es.endpoints[0]))


def test_a_refused_connection_is_a_failed_check(backend: FaultThread) -> None:
    backend.set_mode("refuse")
    assert checked(HealthCheckConfig(), backend.port) == ProbeResult(False, "connection refused")


def test_a_silent_endpoint_fails_by_timeout(backend: FaultThread) -> None:
    backend.set_mode("blackhole")
    result = checked(HealthCheckConfig(timeout=Duration(0.2)), backend.port)
    assert result == ProbeResult(False, "no answer within 0.2s")


# tcp -----------------------------------------------------------------------------------------


def test_tcp_connect_only() -> None:
    async def scenario() -> ProbeResult:
        async with serve(replying(b"")) as port:
            return await check(HealthCheckConfig(kind="tcp"), port)

    assert run(scenario()) == ProbeResult(True, "connected")


def test_tcp_send_and_expect() -> None:
    async def scenario(expect: str) -> ProbeResult:
        tcp = TcpProbeConfig(send="PING\r\n", expect=expect)
        async with serve(replying(b"+PONG\r\n", after=b"PING\r\n", close=True)) as port:
            return await check(HealthCheckConfig(kind="tcp", tcp=tcp), port)

    assert run(scenario("PONG")) == ProbeResult(True, "expected reply")
    assert run(scenario("READY")) == ProbeResult(False, "closed without sending b'READY'")


def test_tcp_expect_waits_at_most_the_timeout() -> None:
    async def scenario() -> ProbeResult:
        tcp = TcpProbeConfig(send="PING\r\n", expect="READY")
        config = HealthCheckConfig(kind="tcp", tcp=tcp, timeout=Duration(0.2))
        async with serve(replying(b"+PONG\r\n", after=b"PING\r\n")) as port:
            es = _OneEndpoint(port)
            checker = HealthChecker(es, config)  # type: ignore[arg-type]
            return await checker.check_once(es.endpoints[0])

    assert run(scenario()) == ProbeResult(False, "no answer within 0.2s")


def test_tcp_hex_payloads() -> None:
    async def scenario() -> ProbeResult:
        tcp = TcpProbeConfig(send_hex="00ff", expect_hex="beef")
        async with serve(replying(b"\xde\xad\xbe\xef", after=b"\x00\xff")) as port:
            return await check(HealthCheckConfig(kind="tcp", tcp=tcp), port)

    assert run(scenario()).ok


# smtp ----------------------------------------------------------------------------------------


def test_smtp_greeting_ehlo_quit() -> None:
    handler = smtp()

    async def scenario() -> ProbeResult:
        config = HealthCheckConfig(kind="smtp", smtp=SmtpProbeConfig(ehlo="lb.example"))
        async with serve(handler) as port:
            return await check(config, port)

    assert run(scenario()) == ProbeResult(True, "220 greeting, EHLO 250")
    assert handler.seen == [b"EHLO lb.example\r\n", b"QUIT\r\n"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("greeting", "ehlo", "detail"),
    [
        (b"554 5.3.2 no service\r\n", None, "greeting 554 5.3.2 no service"),
        (b"220 ok\r\n", b"421 4.3.2 shutting down\r\n", "EHLO answered 421 4.3.2 shutting down"),
        (b"HTTP/1.1 400 Bad\r\n", None, "not an SMTP reply: 'HTTP/1.1 400 Bad'"),
    ],
)
def test_smtp_failures_carry_the_servers_words(
    greeting: bytes, ehlo: bytes | None, detail: str
) -> None:
    async def scenario() -> ProbeResult:
        async with serve(smtp(greeting, ehlo)) as port:
            return await check(HealthCheckConfig(kind="smtp"), port)

    assert run(scenario()) == ProbeResult(False, detail)


@pytest.mark.skipif(shutil.which("swaks") is None, reason="Debian's swaks is not installed")
def test_the_fake_smtp_server_satisfies_a_real_smtp_client() -> None:
    """Cross-check the fake against swaks, so the probe is not only tested against itself."""

    async def scenario() -> subprocess.CompletedProcess[str]:
        async with serve(smtp()) as port:
            return await asyncio.to_thread(
                subprocess.run,
                ["swaks", "--server", f"127.0.0.1:{port}", "--quit-after", "EHLO"],
                capture_output=True,
                text=True,
                timeout=10,
            )

    out = asyncio.run(scenario())
    assert out.returncode == 0, out.stdout + out.stderr
    assert "<-  250 8BITMIME" in out.stdout


# pgsql ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("answer", [b"N", b"S"])
def test_pgsql_ssl_request_is_answered_with_one_byte(answer: bytes) -> None:
    async def scenario() -> ProbeResult:
        async with serve(pgsql(ssl_answer=answer)) as port:
            return await check(HealthCheckConfig(kind="pgsql"), port)

    assert run(scenario()) == ProbeResult(True, f"SSLRequest answered {answer.decode()!r}")


def test_pgsql_ssl_request_with_a_wrong_answer_fails() -> None:
    async def scenario() -> ProbeResult:
        async with serve(pgsql(ssl_answer=b"E")) as port:
            return await check(HealthCheckConfig(kind="pgsql"), port)

    assert run(scenario()) == ProbeResult(False, "unexpected answer to SSLRequest: b'E'")


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (b"", ProbeResult(True, "server asks for authentication")),
        (
            pg_error("28000", 'role "meshlb" does not exist'),
            ProbeResult(True, 'server error 28000: role "meshlb" does not exist'),
        ),
        (
            pg_error("57P03", "the database system is starting up"),
            ProbeResult(False, "server error 57P03: the database system is starting up"),
        ),
        (b"Z", ProbeResult(False, "unexpected answer to StartupMessage: b'Z'")),
    ],
)
def test_pgsql_startup_mode(answer: bytes, expected: ProbeResult) -> None:
    async def scenario() -> ProbeResult:
        config = HealthCheckConfig(kind="pgsql", pgsql=PgsqlProbeConfig(mode="startup"))
        async with serve(pgsql(startup_answer=answer)) as port:
            return await check(config, port)

    assert run(scenario()) == expected


# registry ------------------------------------------------------------------------------------


class _AlwaysDown:
    def __init__(self, config: HealthCheckConfig) -> None:
        self.reason = str(config.params.get("reason", "down"))

    async def check(self, host: str, port: int) -> ProbeResult:
        return ProbeResult(False, self.reason)


def test_built_in_kinds_are_known() -> None:
    assert {"http", "tcp", "smtp", "pgsql"} <= probes.known_kinds()


def test_a_registered_kind_reads_its_params() -> None:
    probes.register("always-down", _AlwaysDown)
    try:
        config = HealthCheckConfig(kind="always-down", params={"reason": "maintenance"})
        assert run(check(config, 1)) == ProbeResult(False, "maintenance")
    finally:
        probes._REGISTRY.pop("always-down")


def test_an_unknown_kind_is_a_key_error_naming_the_known_ones() -> None:
    with pytest.raises(KeyError, match="known: http, pgsql, smtp, tcp"):
        probes._factory("carrier-pigeon")
