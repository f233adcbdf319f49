"""What the admin API may show of the config and of hook runs: no secret, everything else."""

from __future__ import annotations

import msgspec
import pytest

from meshlb.config import load_text
from meshlb.config.redact import (
    REDACTED,
    redact_argv,
    redact_command_line,
    redact_hook_run,
    redact_url,
    redacted,
)
from meshlb.supervisor import config_builtins

SECRETS = ("s3cret-token", "hunter2", "Basic dXNlcjpwdw==", "sid=abc", "k-123", "p4ss", "q-tok")

CONFIG = """
[admin]
token = "s3cret-token"

[[listeners]]
address = "127.0.0.1:8080"

[clusters.app]
endpoints = ["127.0.0.1:9001"]
health.http.path = "/health?access_token=q-tok&verbose=1"
health.http.headers = { Authorization = "Basic dXNlcjpwdw==", Cookie = "sid=abc", X-Probe = "yes" }
on_unhealthy.webhook = "http://ops:hunter2@hooks.example:8080/page?team=db"
on_unhealthy.command = ["restart.sh", "--password", "p4ss", "{address}"]

[[routes]]
cluster = "app"
match.headers = { X-Api-Key = "*" }
request_headers_add = { X-Api-Key = "k-123", X-Team = "db" }
"""


def test_the_config_view_shows_no_secret_and_everything_else() -> None:
    config = load_text(CONFIG)
    view = redacted(config)
    text = msgspec.json.encode(config_builtins(view)).decode()
    for secret in SECRETS:
        assert secret not in text
    cluster = view.clusters["app"]
    assert cluster.health is not None and cluster.health.http is not None
    assert cluster.health.http.path == f"/health?access_token={REDACTED}&verbose=1"
    assert cluster.health.http.headers == {
        "Authorization": REDACTED,
        "Cookie": REDACTED,
        "X-Probe": "yes",
    }
    assert cluster.on_unhealthy is not None
    assert cluster.on_unhealthy.webhook == f"http://ops:{REDACTED}@hooks.example:8080/page?team=db"
    assert cluster.on_unhealthy.command == ["restart.sh", "--password", REDACTED, "{address}"]
    route = view.routes[0]
    assert route.request_headers_add == {"X-Api-Key": REDACTED, "X-Team": "db"}
    assert route.match.headers == {"X-Api-Key": "*"}  # "present": no secret in it
    assert view.admin.token == REDACTED
    assert config.admin.token == "s3cret-token"  # the running config keeps its secrets


def test_a_config_without_secrets_is_shown_as_it_is() -> None:
    config = load_text(
        '[[listeners]]\naddress = "127.0.0.1:8080"\n[clusters.a]\nendpoints = ["127.0.0.1:9001"]'
    )
    assert redacted(config) == config


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://hooks.example/x", "http://hooks.example/x"),
        ("http://u:pw@h/", f"http://u:{REDACTED}@h/"),
        ("http://ghp_token@h/", f"http://{REDACTED}@h/"),
        (
            "http://h/p?a=1&api_key=2&Password=3",
            f"http://h/p?a=1&api_key={REDACTED}&Password={REDACTED}",
        ),
        ("/health?sig=1&token", "/health?sig=1&token"),
    ],
)
def test_urls_lose_their_credentials(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_commands_lose_their_credentials() -> None:
    argv = [
        "curl", "-u", "bob:pw", "-H", "Authorization: Bearer t", "--token", "t2",
        "--api-key=k", "http://u:p@h/x?token=1", "--url=http://t@h/", "secret=s", "-X", "POST",
    ]  # fmt: skip
    assert redact_argv(argv) == [
        "curl", "-u", f"bob:{REDACTED}", "-H", f"Authorization: {REDACTED}", "--token",
        REDACTED, f"--api-key={REDACTED}", f"http://u:{REDACTED}@h/x?token={REDACTED}",
        f"--url=http://{REDACTED}@h/", f"secret={REDACTED}", "-X", "POST",
    ]  # fmt: skip
    assert redact_command_line("fix.sh --password 'a b' 10.0.0.1:80") == (
        f"fix.sh --password {REDACTED!r} 10.0.0.1:80"
    )


def test_hook_runs_show_their_target_redacted() -> None:
    webhook = {"kind": "webhook", "target": "http://ops:hunter2@h/", "ok": True}
    assert redact_hook_run(webhook) == {**webhook, "target": f"http://ops:{REDACTED}@h/"}
    command = {"kind": "command", "target": "fix.sh --token abc 10.0.0.1:80", "ok": False}
    assert redact_hook_run(command)["target"] == f"fix.sh --token {REDACTED!r} 10.0.0.1:80"
