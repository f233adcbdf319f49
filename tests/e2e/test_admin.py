"""The admin API over real sockets: a real AdminServer on 127.0.0.1, a fake Control behind it."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from meshlb.admin import server as server_module
from meshlb.admin.server import AdminServer
from meshlb.config.schema import AdminConfig
from tests.admin.fakes import FakeControl

LOCAL = AdminConfig(address="127.0.0.1:0")


@asynccontextmanager
async def admin(
    control: FakeControl, config: AdminConfig = LOCAL
) -> AsyncIterator[tuple[AdminServer, httpx.AsyncClient]]:
    server = AdminServer(control, config)
    await server.start()
    host, port = server.address
    try:
        async with httpx.AsyncClient(base_url=f"http://{host}:{port}", timeout=5) as client:
            yield server, client
    finally:
        await server.stop()


Scenario = Callable[[AdminServer, httpx.AsyncClient], Awaitable[None]]


def run(
    scenario: Scenario, control: FakeControl | None = None, config: AdminConfig = LOCAL
) -> None:
    async def go() -> None:
        async with admin(control or FakeControl(), config) as (server, client):
            await scenario(server, client)

    asyncio.run(go())


async def raw(server: AdminServer, data: bytes, *, close_write: bool = True) -> bytes:
    """Send bytes on a fresh connection; read everything until the server closes."""
    reader, writer = await asyncio.open_connection(*server.address)
    writer.write(data)
    if close_write:
        writer.write_eof()
    reply = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return reply


def test_it_binds_the_configured_address_and_reports_the_port() -> None:
    async def scenario(server: AdminServer, client: httpx.AsyncClient) -> None:
        host, port = server.address
        assert host == "127.0.0.1" and port > 0
        assert repr(server) == f"<AdminServer 127.0.0.1:{port} open connections=0>"

    run(scenario)


def test_a_disabled_admin_binds_nothing() -> None:
    async def go() -> None:
        server = AdminServer(FakeControl(), AdminConfig(address="127.0.0.1:0", enabled=False))
        await server.start()
        with pytest.raises(RuntimeError):
            server.address  # noqa: B018
        await server.stop()

    asyncio.run(go())


def test_stop_closes_the_listener() -> None:
    async def go() -> None:
        server = AdminServer(FakeControl(), LOCAL)
        await server.start()
        address = server.address
        await server.stop()
        with pytest.raises(OSError):
            await asyncio.open_connection(*address)

    asyncio.run(go())


def test_healthz_and_readyz() -> None:
    control = FakeControl()

    async def scenario(server: AdminServer, client: httpx.AsyncClient) -> None:
        health = await client.get("/healthz")
        assert (health.status_code, health.text) == (200, "ok\n")
        assert (await client.get("/readyz")).status_code == 200
        control.is_ready = False
        assert (await client.get("/readyz")).status_code == 503
        assert (await client.get("/healthz")).status_code == 200

    run(scenario, control)


def test_clusters_lists_every_endpoint_with_its_flags() -> None:
    async def scenario(server: AdminServer, client: httpx.AsyncClient) -> None:
        response = await client.get("/clusters")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        doc = response.json()
        assert [c["name"] for c in doc["clusters"]] == ["compute", "assets"]
        ejected = doc["clusters"][0]["endpoints"][1]
        assert ejected["address"] == "10.0.0.2:8000"
        assert ejected["ejected"] is True and ejected["healthy"] is False
        assert ejected["ejection_reason"] == "5 consecutive 5xx"
        first = doc["clusters"][0]["endpoints"][0]
        assert (first["weight"], first["active_requests"], first["latency_avg_ms"]) == (2, 3, 12.5)
        assert doc["clusters"][0]["endpoints"][2]["hooks"][0]["exit_code"] == 2

    run(scenario)


def test_config_is_the_controls_view() -> None:
    async def scenario(server: AdminServer, client: httpx.AsyncClient) -> None:
        assert (await client.get("/config")).json() == FakeControl().config_view()

    run(scenario)


def test_drain_and_undrain_an_endpoint() -> None:
    control = FakeControl()

    async def scenario(server: AdminServer, client: httpx.AsyncClient) -> None:
        response = await client.post("/clusters/compute/endpoints/10.0.0.1:8000/drain")
        assert response.status_code == 200
        assert response.json() == {
            "cluster": "compute",
            "endpoint": "10.0.0.1:8000",
            "draining": True,
        }
        clusters = (await client.get("/clusters")).json()["clusters"]
        assert clusters[0]["endpoints"][0]["draining"] is True
        response = await client.post("/clusters/compute/endpoints/10.0.0.1%3A8000/undrain")
        assert response.json()["draining"] is False
        assert control.drains == [
            ("compute", "10.0.0.1:8000", True),
            ("compute", "10.0.0.1:8000", False),
        ]

    run(scenario, control)


def test_draining_an_unknown_endpoint_is_404_with_the_reason() -> None:
    async def scenario(server: AdminServer, client: httpx.AsyncClient) -> None:
        response = await client.post("/clusters/nope/endpoints/10.0.0.1:8000/drain")
        assert response.status_code == 404
        assert response.json() == {"error": "no cluster named 'nope'"}
        response = await client.post("/clusters/compute/endpoints/10.9.9.9:1/drain")
        assert response.json()["error"] == "cluster 'compute' has no endpoint 10.9.9.9:1"

    run(scenario)


def test_reload_reports_success_or_every_error() -> None:
    control = FakeControl()

    async def scenario(server: AdminServer, client: httpx.AsyncClient) -> None:
        response = await client.post("/reload")
        assert (response.status_code, response.json()) == (200, {"ok": True})
        control.reload_errors = ["clusters.web.endpoints: at least one endpoint is required"]
        response = await client.post("/reload")
        assert response.status_code == 400
        assert response.json() == {"errors": control.reload_errors}
        assert control.reloads == 2

    run(scenario, control)


def test_metrics_are_prometheus_text() -> None:
    async def scenario(server: AdminServer, client: httpx.AsyncClient) -> None:
        response = await client.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain; version=")
        names = {f.name for f in text_string_to_metric_families(response.text)}
        assert "meshlb_endpoint_healthy" in names

    run(scenario)


def test_the_status_page_is_html_under_a_content_security_policy() -> None:
    async def scenario(server: AdminServer, client: httpx.AsyncClient) -> None:
        response = await client.get("/")
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        assert "script-src 'sha256-" in response.headers["content-security-policy"]
        assert "<title>meshlb status</title>" in response.text
        stats = (await client.get("/stats.json")).json()
        assert [c["name"] for c in stats["clusters"]] == ["compute", "assets"]

    run(scenario)


def test_unknown_paths_are_404_and_wrong_methods_405_with_allow() -> None:
    async def scenario(server: AdminServer, client: httpx.AsyncClient) -> None:
        assert (await client.get("/nope")).status_code == 404
        assert (await client.get("/clusters/compute/endpoints/x/reboot")).status_code == 404
        response = await client.delete("/clusters")
        assert (response.status_code, response.headers["allow"]) == (405, "GET, HEAD")
        response = await client.get("/reload")
        assert (response.status_code, response.headers["allow"]) == (405, "POST")
        response = await client.get("/clusters/compute/endpoints/10.0.0.1:8000/drain")
        assert (response.status_code, response.headers["allow"]) == (405, "POST")

    run(scenario)


def test_head_sends_the_headers_only() -> None:
    async def scenario(server: AdminServer, client: httpx.AsyncClient) -> None:
        reply = await raw(server, b"HEAD /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert reply.startswith(b"HTTP/1.1 200 OK\r\n")
        assert b"Content-Length: 3\r\n" in reply and reply.endswith(b"\r\n\r\n")

    run(scenario)


def test_a_malformed_request_gets_400_and_the_connection_is_closed() -> None:
    async def scenario(server: AdminServer, client: httpx.AsyncClient) -> None:
        reply = await raw(
            server, b"GET /healthz HTTP/1.1\r\nHost 127.0.0.1\r\n\r\n", close_write=False
        )
        assert reply.startswith(b"HTTP/1.1 400 Bad Request\r\n")
        assert b"Connection: close" in reply

    run(scenario)


def test_a_client_too_slow_to_send_its_request_gets_408(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server_module, "REQUEST_TIMEOUT", 0.2)

    async def scenario(server: AdminServer, client: httpx.AsyncClient) -> None:
        reply = await raw(server, b"GET /healthz HTTP/1.1\r\n", close_write=False)
        assert reply.startswith(b"HTTP/1.1 408 Request Timeout\r\n")

    run(scenario)


def test_a_failing_control_is_a_500_not_a_dead_listener() -> None:
    control = FakeControl()

    def broken() -> None:
        raise RuntimeError("snapshot failed")

    async def scenario(server: AdminServer, client: httpx.AsyncClient) -> None:
        control.snapshot = broken  # type: ignore[method-assign,assignment]
        response = await client.get("/clusters")
        assert response.status_code == 500
        assert (await client.get("/healthz")).status_code == 200

    run(scenario, control)


TOKEN = AdminConfig(address="127.0.0.1:0", token="s3cret-token")


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong", "Basic czNjcmV0LXRva2Vu", "Bearer s3cret-token-and-more", "Bearer"],
)
def test_with_a_token_every_request_without_it_is_401(authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}

    async def scenario(server: AdminServer, client: httpx.AsyncClient) -> None:
        for method, path in [("GET", "/healthz"), ("GET", "/nope"), ("POST", "/reload")]:
            response = await client.request(method, path, headers=headers)
            assert response.status_code == 401, path
            assert response.headers["www-authenticate"] == 'Bearer realm="meshlb"'

    run(scenario, config=TOKEN)


def test_with_the_token_requests_are_served() -> None:
    control = FakeControl()

    async def scenario(server: AdminServer, client: httpx.AsyncClient) -> None:
        for scheme in ("Bearer", "bearer"):
            headers = {"Authorization": f"{scheme} s3cret-token"}
            assert (await client.get("/healthz", headers=headers)).status_code == 200
        response = await client.post("/reload", headers={"Authorization": "Bearer s3cret-token"})
        assert response.status_code == 200 and control.reloads == 1

    run(scenario, control, TOKEN)


def test_cross_site_posts_are_refused() -> None:
    control = FakeControl()

    async def scenario(server: AdminServer, client: httpx.AsyncClient) -> None:
        host, port = server.address
        evil = await client.post("/reload", headers={"Origin": "http://evil.example"})
        assert evil.status_code == 403
        fetched = await client.post("/reload", headers={"Sec-Fetch-Site": "cross-site"})
        assert fetched.status_code == 403
        assert control.reloads == 0
        mine = await client.post("/reload", headers={"Origin": f"http://{host}:{port}"})
        assert mine.status_code == 200 and control.reloads == 1

    run(scenario, control)


def test_on_loopback_a_foreign_host_name_is_refused() -> None:
    async def scenario(server: AdminServer, client: httpx.AsyncClient) -> None:
        rebound = await client.get("/config", headers={"Host": "attacker.example:9901"})
        assert rebound.status_code == 403
        for host in ("localhost:9901", "127.0.0.1", "[::1]:9901"):
            assert (await client.get("/config", headers={"Host": host})).status_code == 200

    run(scenario)


def test_on_a_wildcard_address_any_host_name_is_served() -> None:
    async def scenario(server: AdminServer, client: httpx.AsyncClient) -> None:
        response = await client.get("/healthz", headers={"Host": "meshlb.internal:9901"})
        assert response.status_code == 200

    async def go() -> None:
        server = AdminServer(FakeControl(), AdminConfig(address="0.0.0.0:0"))
        await server.start()
        try:
            port = server.address[1]
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                await scenario(server, client)
        finally:
            await server.stop()

    asyncio.run(go())


def test_a_bad_address_is_named_in_the_error() -> None:
    with pytest.raises(ValueError, match="admin.address"):
        AdminServer(FakeControl(), AdminConfig(address="localhost"))


def test_requests_are_served_concurrently() -> None:
    control = FakeControl()
    release = asyncio.Event()

    async def slow_reload() -> list[str]:
        await release.wait()
        return []

    async def scenario(server: AdminServer, client: httpx.AsyncClient) -> None:
        control.reload = slow_reload  # type: ignore[method-assign]
        pending = asyncio.ensure_future(client.post("/reload"))
        await asyncio.sleep(0.05)
        assert (await client.get("/healthz")).status_code == 200  # not stuck behind reload
        release.set()
        assert (await pending).status_code == 200

    run(scenario, control)


def test_the_listener_is_a_plain_tcp_socket_that_closes_after_one_response() -> None:
    async def scenario(server: AdminServer, client: httpx.AsyncClient) -> None:
        reply = await raw(
            server,
            b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /healthz HTTP/1.1\r\n\r\n",
            close_write=False,
        )
        assert reply.count(b"HTTP/1.1 200 OK") == 1  # then EOF

    run(scenario)


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_fixed_port_is_honoured() -> None:
    port = free_tcp_port()

    async def go() -> None:
        server = AdminServer(FakeControl(), AdminConfig(address=f"127.0.0.1:{port}"))
        await server.start()
        try:
            assert server.address == ("127.0.0.1", port)
        finally:
            await server.stop()

    asyncio.run(go())
