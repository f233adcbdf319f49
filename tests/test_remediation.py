"""Remediation hooks: when they fire (fake clock), and real commands and webhooks running."""

from __future__ import annotations

import asyncio
import json
import sys
import tomllib
from pathlib import Path
from typing import Any

import msgspec
import pytest

from meshlb.admin.snapshot import EndpointView
from meshlb.config.units import Duration
from meshlb.health.remediation import RemediationConfig, RemediationRunner, Run

T0 = 1_700_000_000.0
COMMAND = RemediationConfig(command=["true"])


def up(address: str = "10.0.0.1:80") -> EndpointView:
    return EndpointView(address=address, weight=1, healthy=True, last_change=T0 - 500)


def down(address: str = "10.0.0.1:80", since: float = T0, **kw: Any) -> EndpointView:
    return EndpointView(
        address=address,
        weight=1,
        healthy=False,
        failed_active_check=True,
        last_reason="http: status 503",
        last_change=since,
        **kw,
    )


def counts(runs: list[Run]) -> list[tuple[str, int]]:
    return [(r.address, r.count) for r in runs]


# -- deciding ----------------------------------------------------------------------------------


def test_nothing_runs_until_the_endpoint_has_been_down_for_after() -> None:
    runner = RemediationRunner("web", COMMAND)
    assert runner.due([up()], T0) == []
    assert runner.due([down()], T0 + 29.9) == []
    (run,) = runner.due([down()], T0 + 30)
    assert run == Run("web", "10.0.0.1:80", "http: status 503", 30.0, 1)
    assert run.host_port == ("10.0.0.1", "80")


def test_runs_are_rate_limited_and_capped_per_outage() -> None:
    config = RemediationConfig(command=["true"], min_interval=Duration(60), max_runs=2)
    runner = RemediationRunner("web", config)
    assert counts(runner.due([down()], T0 + 30)) == [("10.0.0.1:80", 1)]
    assert runner.due([down()], T0 + 31) == []  # once, not every tick
    assert runner.due([down()], T0 + 89) == []  # min_interval not over
    assert counts(runner.due([down()], T0 + 90)) == [("10.0.0.1:80", 2)]
    assert runner.due([down()], T0 + 1000) == []  # max_runs reached


def test_recovery_resets_the_count() -> None:
    config = RemediationConfig(command=["true"], max_runs=1)
    runner = RemediationRunner("web", config)
    assert len(runner.due([down()], T0 + 30)) == 1
    assert runner.due([down()], T0 + 900) == []
    runner.due([up()], T0 + 1000)
    assert runner.due([down(since=T0 + 1100)], T0 + 1110) == []  # a new outage, 10 s old
    assert counts(runner.due([down(since=T0 + 1100)], T0 + 1130)) == [("10.0.0.1:80", 1)]


def test_down_time_counts_from_the_transition_not_from_later_flag_changes() -> None:
    runner = RemediationRunner("web", COMMAND)
    assert runner.due([down(since=T0)], T0 + 10) == []
    # ejected on top of the failed check: last_change moves, the outage does not
    (run,) = runner.due([down(since=T0 + 20, ejected=True, ejection_reason="5xx")], T0 + 30)
    assert (run.down_seconds, run.reason) == (30.0, "5xx")


def test_an_unknown_transition_time_counts_from_first_sight() -> None:
    runner = RemediationRunner("web", COMMAND)
    assert runner.due([down(since=0.0)], T0) == []
    assert len(runner.due([down(since=0.0)], T0 + 30)) == 1


def test_a_draining_endpoint_is_never_remediated() -> None:
    runner = RemediationRunner("web", COMMAND)
    assert runner.due([down(draining=True)], T0 + 3600) == []


def test_endpoints_are_decided_independently_and_removed_ones_forgotten() -> None:
    runner = RemediationRunner("web", COMMAND)
    views = [down("10.0.0.1:80"), up("10.0.0.2:80"), down("10.0.0.3:80", since=T0 + 20)]
    assert counts(runner.due(views, T0 + 30)) == [("10.0.0.1:80", 1)]
    assert counts(runner.due(views, T0 + 50)) == [("10.0.0.3:80", 1)]
    runner.due([up("10.0.0.2:80")], T0 + 60)
    assert "down=0" in repr(runner)
    assert counts(runner.due([down("10.0.0.1:80", since=T0 + 60)], T0 + 90)) == [("10.0.0.1:80", 1)]


def test_config_needs_an_action_and_an_http_webhook() -> None:
    with pytest.raises(ValueError, match="set command, webhook or both"):
        RemediationConfig()
    with pytest.raises(ValueError, match="non-empty argv"):
        RemediationConfig(command=[])
    with pytest.raises(ValueError, match="http:// URL"):
        RemediationConfig(webhook="ftp://example.com/hook")


def decode(text: str) -> RemediationConfig:
    def hook(tp: type, obj: object) -> object:
        if tp is Duration:
            return Duration.parse(obj)
        raise NotImplementedError

    table = tomllib.loads(text)["clusters"]["web"]["on_unhealthy"]
    return msgspec.convert(table, RemediationConfig, dec_hook=hook)


def test_config_reads_its_toml_table_with_durations() -> None:
    config = decode(
        """
        [clusters.web.on_unhealthy]
        command = ["/usr/local/bin/restart-node", "{host}"]
        after = "1m"
        min_interval = "10m"
        max_runs = 5
        timeout = "45s"
        """
    )
    assert config.after == 60 and config.min_interval == 600 and config.timeout == 45
    assert config.max_runs == 5 and config.webhook is None
    with pytest.raises(msgspec.ValidationError, match="unknown field `retries`"):
        decode('[clusters.web.on_unhealthy]\ncommand = ["true"]\nretries = 1')


# -- running -----------------------------------------------------------------------------------

DUMP_ENV = (
    "import json, os, sys; "
    "env = {k: v for k, v in os.environ.items() if k.startswith('MESHLB_')}; "
    "json.dump({'argv': sys.argv[2:], 'env': env}, open(sys.argv[1], 'w')); "
    "print('restarted', sys.argv[3])"
)


def tick_and_wait(runner: RemediationRunner, views: list[EndpointView], now: float) -> int:
    async def go() -> int:
        tasks = runner.tick(views, now)
        await asyncio.gather(*tasks)
        return len(tasks)

    return asyncio.run(go())


def test_a_command_runs_once_with_placeholders_and_environment(tmp_path: Path) -> None:
    out = tmp_path / "env.json"
    argv = [sys.executable, "-c", DUMP_ENV, str(out), "{cluster}", "{address}", "{host}", "{port}"]
    runner = RemediationRunner("web", RemediationConfig(command=argv))
    views = [down("127.0.0.1:8081", since=T0)]
    assert tick_and_wait(runner, views, T0 + 42) == 1
    assert tick_and_wait(runner, views, T0 + 43) == 0  # rate-limited

    seen = json.loads(out.read_text())
    assert seen["argv"] == ["web", "127.0.0.1:8081", "127.0.0.1", "8081"]
    assert seen["env"] == {
        "MESHLB_CLUSTER": "web",
        "MESHLB_ENDPOINT": "127.0.0.1:8081",
        "MESHLB_REASON": "http: status 503",
        "MESHLB_DOWN_SECONDS": "42",
        "MESHLB_RUN_COUNT": "1",
    }
    (record,) = runner.history("127.0.0.1:8081")
    assert record["kind"] == "command" and record["ok"] is True
    assert record["exit_code"] == 0 and record["output"] == "restarted 127.0.0.1:8081\n"
    assert record["count"] == 1 and record["down_seconds"] == 42.0
    assert isinstance(record["duration"], float)
    assert isinstance(record["time"], float) and record["time"] >= T0


def test_a_failing_command_is_recorded_with_its_exit_code_and_truncated_output() -> None:
    script = "import sys; sys.stdout.write('x' * 100_000); sys.exit(3)"
    runner = RemediationRunner("web", RemediationConfig(command=[sys.executable, "-c", script]))
    tick_and_wait(runner, [down()], T0 + 30)
    (record,) = runner.history("10.0.0.1:80")
    assert (record["ok"], record["exit_code"]) == (False, 3)
    assert record["output"] == "x" * 4096


def test_a_command_over_its_timeout_is_killed() -> None:
    config = RemediationConfig(command=["sleep", "30"], timeout=Duration(0.2))
    runner = RemediationRunner("web", config)
    tick_and_wait(runner, [down()], T0 + 30)
    (record,) = runner.history("10.0.0.1:80")
    assert record["ok"] is False and record["error"] == "timed out after 0.2s"
    assert record["exit_code"] == -9
    assert isinstance(record["duration"], float) and record["duration"] < 2


def test_a_command_that_cannot_start_is_recorded() -> None:
    runner = RemediationRunner("web", RemediationConfig(command=["/nonexistent/restart"]))
    tick_and_wait(runner, [down()], T0 + 30)
    (record,) = runner.history("10.0.0.1:80")
    assert record["ok"] is False and str(record["error"]).startswith("cannot start")


def test_no_second_run_starts_while_one_is_in_flight() -> None:
    config = RemediationConfig(command=["sleep", "30"], min_interval=Duration(0), max_runs=5)
    runner = RemediationRunner("web", config)

    async def go() -> None:
        assert len(runner.tick([down()], T0 + 30)) == 1
        await asyncio.sleep(0.05)
        assert runner.tick([down()], T0 + 31) == []
        await runner.close()  # cancels and kills the sleep
        assert len(runner.tick([down()], T0 + 32)) == 1
        await runner.close()

    asyncio.run(go())


class Receiver:
    """A tiny HTTP server on 127.0.0.1 that keeps what it is sent."""

    def __init__(self, status: int = 202) -> None:
        self.status = status
        self.requests: list[tuple[bytes, bytes]] = []  # (head, body)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(
            next(
                line.split(b":")[1]
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
        )
        self.requests.append((head, await reader.readexactly(length)))
        body = b'{"queued": true}'
        writer.write(
            b"HTTP/1.1 %d X\r\nContent-Length: %d\r\n\r\n%s" % (self.status, len(body), body)
        )
        await writer.drain()
        writer.close()


def webhook_run(receiver: Receiver, path: str = "/hooks/meshlb?team=ops") -> RemediationRunner:
    async def go() -> RemediationRunner:
        server = await asyncio.start_server(receiver.handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        runner = RemediationRunner(
            "web", RemediationConfig(webhook=f"http://127.0.0.1:{port}{path}")
        )
        await asyncio.gather(*runner.tick([down()], T0 + 75))
        server.close()
        await server.wait_closed()
        return runner

    return asyncio.run(go())


def test_a_webhook_receives_a_json_post() -> None:
    receiver = Receiver()
    runner = webhook_run(receiver)
    ((head, body),) = receiver.requests
    assert head.startswith(b"POST /hooks/meshlb?team=ops HTTP/1.1\r\n")
    assert b"\r\nContent-Type: application/json\r\n" in head
    assert json.loads(body) == {
        "cluster": "web",
        "endpoint": "10.0.0.1:80",
        "reason": "http: status 503",
        "count": 1,
        "down_seconds": 75.0,
    }
    (record,) = runner.history("10.0.0.1:80")
    assert (record["kind"], record["status"], record["ok"]) == ("webhook", 202, True)
    assert record["output"] == '{"queued": true}'


def test_a_webhook_answering_an_error_status_is_a_failed_run() -> None:
    runner = webhook_run(Receiver(status=500))
    (record,) = runner.history("10.0.0.1:80")
    assert (record["status"], record["ok"]) == (500, False)


def test_a_webhook_nobody_listens_on_is_a_failed_run() -> None:
    async def go() -> RemediationRunner:
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        server.close()
        await server.wait_closed()
        runner = RemediationRunner("web", RemediationConfig(webhook=f"http://127.0.0.1:{port}/"))
        await asyncio.gather(*runner.tick([down()], T0 + 30))
        return runner

    (record,) = asyncio.run(go()).history("10.0.0.1:80")
    assert record["ok"] is False and record["status"] is None and record["error"]


def test_command_and_webhook_both_run_and_history_is_bounded(tmp_path: Path) -> None:
    receiver = Receiver()

    async def go() -> RemediationRunner:
        server = await asyncio.start_server(receiver.handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        config = RemediationConfig(
            command=["true"],
            webhook=f"http://127.0.0.1:{port}/",
            min_interval=Duration(0),
            max_runs=20,
        )
        runner = RemediationRunner("web", config)
        for i in range(8):
            await asyncio.gather(*runner.tick([down()], T0 + 30 + i))
        server.close()
        await server.wait_closed()
        return runner

    history = asyncio.run(go()).history("10.0.0.1:80")
    assert len(history) == 10  # 16 actions, the last 10 kept
    assert [h["kind"] for h in history[-2:]] == ["command", "webhook"]
    assert history[-1]["count"] == 8 and len(receiver.requests) == 8
