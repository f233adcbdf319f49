"""Secrets out of what the admin API shows: the running config and remediation hook runs.

A secret is found by where it sits, never guessed from how a value looks:

- `admin.token`;
- header values (health check headers; route `request_headers_add`, `response_headers_add`
  and `match.headers`) whose name is Authorization, Proxy-Authorization, Cookie or reads
  like a secret (`SECRET_NAME`: token, password, secret, key, auth, session, ...);
- health `params` (third-party probes) with such a name;
- in URLs (a webhook, a health check path): the userinfo (`user:<redacted>@`, or
  `<redacted>@` for a bare token) and query parameters with such a name;
- in a command's argv: `name=value` and `--name value` with such a name, `Name: value`
  header arguments, `-u`/`--user user:password`, and URLs.

The running config is kept whole; only its view is redacted.
"""

from __future__ import annotations

import re
import shlex
from typing import Any, Final
from urllib.parse import unquote, urlsplit, urlunsplit

import msgspec

from meshlb.config.schema import ClusterConfig, Config, RouteConfig

REDACTED: Final = "<redacted>"

SECRET_NAME: Final = re.compile(
    r"auth|cookie|token|passw|pwd|secret|key|credential|session|signature", re.IGNORECASE
)
_HEADER_ARG: Final = re.compile(r"^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*)$", re.DOTALL)
_USER_FLAGS: Final = frozenset(("-u", "--user", "--proxy-user"))
_URL: Final = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_secret_name(name: str) -> bool:
    return SECRET_NAME.search(name) is not None


def redact_headers(headers: dict[str, str]) -> dict[str, str]:
    # ("*" in match.headers means "present": it tells nothing.)
    return {
        name: REDACTED if is_secret_name(name) and value != "*" else value
        for name, value in headers.items()
    }


def redact_url(url: str) -> str:
    """`url` less its userinfo's secret and its secret-named query parameters."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return REDACTED
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, colon, _ = userinfo.partition(":")
        netloc = f"{user}:{REDACTED}@{hostport}" if colon else f"{REDACTED}@{hostport}"
    query = "&".join(_redact_parameter(p) for p in parts.query.split("&")) if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _redact_parameter(parameter: str) -> str:
    name, equals, _ = parameter.partition("=")
    return f"{name}={REDACTED}" if equals and is_secret_name(unquote(name)) else parameter


def redact_argv(argv: list[str]) -> list[str]:
    out: list[str] = []
    flag = ""  # the previous argument, if it was a flag whose value is secret
    for arg in argv:
        if flag:
            # `-u user:password` keeps the user; any other secret flag's value goes whole.
            user, colon, _ = arg.partition(":")
            out.append(f"{user}:{REDACTED}" if flag in _USER_FLAGS and colon else REDACTED)
            flag = ""
            continue
        name, equals, value = arg.partition("=")
        header = _HEADER_ARG.match(arg)
        if _URL.match(arg):
            out.append(redact_url(arg))
        elif equals and is_secret_name(name):
            out.append(f"{name}={REDACTED}")
        elif equals and _URL.match(value):
            out.append(f"{name}={redact_url(value)}")
        elif header is not None and is_secret_name(header.group(1)):
            out.append(f"{header.group(1)}: {REDACTED}")
        else:
            out.append(arg)
            if arg in _USER_FLAGS or (arg.startswith("-") and is_secret_name(arg)):
                flag = arg
    return out


def redact_command_line(line: str) -> str:
    """A command as shlex.join wrote it, with redact_argv applied."""
    try:
        return shlex.join(redact_argv(shlex.split(line)))
    except ValueError:
        return REDACTED


def redact_hook_run(run: dict[str, Any]) -> dict[str, Any]:
    """A remediation history entry (RemediationRunner.history) with its target redacted."""
    target = str(run.get("target", ""))
    redacted = redact_url(target) if run.get("kind") == "webhook" else redact_command_line(target)
    return {**run, "target": redacted}


def redacted(config: Config) -> Config:
    """`config` as the admin API may show it."""
    admin = config.admin
    if admin.token is not None:
        admin = msgspec.structs.replace(admin, token=REDACTED)
    return msgspec.structs.replace(
        config,
        admin=admin,
        clusters={name: _cluster(cluster) for name, cluster in config.clusters.items()},
        routes=[_route(route) for route in config.routes],
    )


def _cluster(cluster: ClusterConfig) -> ClusterConfig:
    health, hook = cluster.health, cluster.on_unhealthy
    if health is not None:
        if health.http is not None:
            http = msgspec.structs.replace(
                health.http,
                path=redact_url(health.http.path),
                headers=redact_headers(health.http.headers),
            )
            health = msgspec.structs.replace(health, http=http)
        params = {k: REDACTED if is_secret_name(k) else v for k, v in health.params.items()}
        health = msgspec.structs.replace(health, params=params)
    if hook is not None:
        hook = msgspec.structs.replace(
            hook,
            webhook=redact_url(hook.webhook) if hook.webhook is not None else None,
            command=redact_argv(hook.command) if hook.command is not None else None,
        )
    return msgspec.structs.replace(cluster, health=health, on_unhealthy=hook)


def _route(route: RouteConfig) -> RouteConfig:
    match = route.match
    if match.headers:
        match = msgspec.structs.replace(match, headers=redact_headers(match.headers))
    return msgspec.structs.replace(
        route,
        match=match,
        request_headers_add=redact_headers(route.request_headers_add),
        response_headers_add=redact_headers(route.response_headers_add),
    )
