"""Load and validate a config, reporting every error with its TOML path.

msgspec stops at the first error of a conversion, so each independent piece (every listener,
every cluster, every route) is converted on its own and its errors collected; cross-reference
checks then run over the pieces that converted. The result is either a `Config` or a
`ConfigError` listing every problem as `path: message`.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from types import UnionType
from typing import Any, TypeVar, Union, get_args, get_origin

import msgspec

from meshlb import balance
from meshlb.config.schema import (
    AdminConfig,
    ClusterConfig,
    Config,
    EndpointConfig,
    ListenerConfig,
    RouteConfig,
)
from meshlb.config.units import Duration, Size, parse_address
from meshlb.protocol.validate import is_token

T = TypeVar("T")

_AT_PATH = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)


class ConfigError(Exception):
    """An invalid config. `errors` holds "toml.path: message" lines."""

    def __init__(self, errors: list[str], source: str = "") -> None:
        self.errors = errors
        self.source = source
        where = f"{source}: " if source else ""
        super().__init__(f"{where}{len(errors)} config error(s):\n  " + "\n  ".join(errors))


def _dec_hook(tp: type, obj: Any) -> Any:
    if tp is Duration:
        return Duration.parse(obj)
    if tp is Size:
        return Size.parse(obj)
    raise NotImplementedError(f"unsupported config type {tp!r}")


def _convert(obj: Any, tp: type[T], path: str, errors: list[str]) -> T | None:
    try:
        return msgspec.convert(obj, tp, dec_hook=_dec_hook)
    except msgspec.ValidationError as exc:
        m = _AT_PATH.match(str(exc))
        assert m is not None
        message, sub = m.group("msg"), m.group("path") or ""
        unknown = re.match(r"Object contains unknown field `(.+)`", message)
        if unknown:
            sub = f"{sub}.{unknown.group(1)}"
            message = "unknown key"
        missing = re.match(r"Object missing required field `(.+)`", message)
        if missing:
            sub = f"{sub}.{missing.group(1)}"
            message = "required key is missing"
        errors.append(f"{path}{sub}: {message}")
        return None


def _struct_of(tp: Any) -> type[msgspec.Struct] | None:
    """The Struct type a dict value should be checked against, if any (also inside unions)."""
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return tp
    if get_origin(tp) in (Union, UnionType):
        for arg in get_args(tp):
            if isinstance(arg, type) and issubclass(arg, msgspec.Struct):
                return arg
    return None


def _collect(obj: Any, tp: Any, path: str, errors: list[str]) -> bool:
    """Check `obj` against `tp` piece by piece so that every error is reported, not the first."""
    before = len(errors)
    struct = _struct_of(tp)
    origin = get_origin(tp)
    if struct is not None and isinstance(obj, dict):
        fields = {f.encode_name: f for f in msgspec.structs.fields(struct)}
        for key in obj:
            if key not in fields:
                errors.append(f"{_dotted(path, key)}: unknown key")
        for name, field in fields.items():
            if name in obj:
                _collect(obj[name], field.type, _dotted(path, name), errors)
            elif field.required:
                errors.append(f"{_dotted(path, name)}: required key is missing")
        if len(errors) == before and hasattr(struct, "__post_init__"):
            # Every field is fine on its own: the struct's own cross-field rules run now.
            _convert(obj, struct, path, errors)
    elif origin is list and isinstance(obj, list) and _struct_of(get_args(tp)[0]) is not None:
        for i, item in enumerate(obj):
            _collect(item, get_args(tp)[0], f"{path}[{i}]", errors)
    elif origin is dict and isinstance(obj, dict) and _struct_of(get_args(tp)[1]) is not None:
        for key, item in obj.items():
            _collect(item, get_args(tp)[1], _dotted(path, key), errors)
    else:
        value = _convert(obj, tp, path, errors)
        if isinstance(value, str) and _ADDRESS_PATH.search(path):
            # Checked here rather than after conversion so that a file with other errors
            # still gets its bad addresses reported.
            where = path if path.endswith(".address") else f"{path}.address"
            _check_address(value, where, errors, listener=path.startswith("listeners"))
    return len(errors) == before


_ADDRESS_PATH = re.compile(r"(^listeners\[\d+\]\.address|\.endpoints\[\d+\](\.address)?)$")


def _dotted(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _items(raw: dict[str, Any], key: str, errors: list[str]) -> Iterator[tuple[int, Any]]:
    value = raw.get(key, [])
    if not isinstance(value, list):
        errors.append(f"{key}: expected an array of tables ([[{key}]])")
        return
    yield from enumerate(value)


def validate(raw: dict[str, Any], source: str = "") -> Config:
    """Turn a decoded TOML document into a `Config`, or raise `ConfigError`."""
    errors: list[str] = []
    _collect(raw, Config, "", errors)
    try:
        config = msgspec.convert(raw, Config, dec_hook=_dec_hook)
    except (msgspec.ValidationError, ValueError):
        raise ConfigError(errors or ["invalid config"], source) from None
    listener_names: set[str] = set()
    for i, listener in enumerate(config.listeners):
        if listener.protocol == "tcp":
            if listener.cluster is None:
                errors.append(f"listeners[{i}].cluster: required for a tcp listener")
            elif listener.cluster not in config.clusters:
                errors.append(f"listeners[{i}].cluster: no cluster named {listener.cluster!r}")
        elif listener.cluster is not None:
            errors.append(
                f"listeners[{i}].cluster: only tcp listeners name a cluster; "
                "http listeners use [[routes]]"
            )
        if listener.name:
            if listener.name in listener_names:
                errors.append(f"listeners[{i}].name: {listener.name!r} is used twice")
            listener_names.add(listener.name)
        _check_forwarding(i, listener, errors)
    _check_address(config.admin.address, "admin.address", errors, listener=True)
    errors += admin_errors(config.admin)
    if not config.listeners:
        errors.append("listeners: at least one listener is required")
    for name, cluster in config.clusters.items():
        _check_cluster(name, cluster, errors)
    for i, route in enumerate(config.routes):
        _check_route(i, route, config.clusters, listener_names, errors)
    tcp_names = {lc.name for lc in config.listeners if lc.protocol == "tcp" and lc.name}
    for i, route in enumerate(config.routes):
        for name in route.listeners or ():
            if name in tcp_names:
                errors.append(f"routes[{i}].listeners: {name!r} is a tcp listener")
    http_listeners = [lc for lc in config.listeners if lc.protocol == "http"]
    if http_listeners and not config.routes and len(config.clusters) > 1:
        errors.append("routes: required when more than one cluster is defined")
    if not config.clusters:
        errors.append("clusters: at least one cluster is required")
    if errors:
        raise ConfigError(errors, source)
    return config


def _check_address(address: str, path: str, errors: list[str], listener: bool = False) -> None:
    try:
        parse_address(address, allow_any_port=listener)
    except ValueError as exc:
        errors.append(f"{path}: {exc}")


def _check_forwarding(i: int, listener: ListenerConfig, errors: list[str]) -> None:
    for j, network in enumerate(listener.trusted_proxies):
        try:
            ipaddress.ip_network(network)
        except ValueError as exc:
            errors.append(f"listeners[{i}].trusted_proxies[{j}]: {exc}")
    if listener.trusted_proxies and listener.protocol == "tcp":
        errors.append(f"listeners[{i}].trusted_proxies: only http listeners forward fields")
    for j, protocol in enumerate(listener.upgrade):
        if not is_token(protocol.encode("latin-1", "replace")):
            errors.append(
                f"listeners[{i}].upgrade[{j}]: {protocol!r} is not a protocol name "
                '(a token such as "websocket")'
            )


def admin_errors(admin: AdminConfig, where: str = "admin.address") -> list[str]:
    """What makes an admin API unsafe to start; `where` names the address in the message."""
    if not admin.enabled:
        return []
    if admin.token is not None and not admin.token.strip():
        # An empty token would read as "no token": auth silently off.
        return ["admin.token: must not be empty (leave it out to run without a token)"]
    if admin.token is None and not admin.allow_insecure and not _loopback(admin.address):
        return [
            f"{where}: {admin.address} is not a loopback address and admin.token is not set; "
            "anyone who reaches it may drain endpoints and reload the config. Set a token, "
            "or admin.allow_insecure = true if a network policy guards it"
        ]
    return []


def _loopback(address: str) -> bool:
    try:
        host, _ = parse_address(address, default_host="127.0.0.1", allow_any_port=True)
    except ValueError:
        return True  # reported as a bad address already
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name may resolve to anything


def _check_cluster(name: str, cluster: ClusterConfig, errors: list[str]) -> None:
    if not cluster.endpoints:
        errors.append(f"clusters.{name}.endpoints: at least one endpoint is required")
    seen: set[str] = set()
    for j, endpoint in enumerate(cluster.endpoints):
        address = endpoint if isinstance(endpoint, str) else endpoint.address
        path = f"clusters.{name}.endpoints[{j}]"
        if address in seen:
            errors.append(f"{path}: endpoint {address} is listed twice")
        seen.add(address)
    try:
        balance.create(cluster.balancer, cluster.lb)
    except (KeyError, ValueError) as exc:
        known = ", ".join(balance.registered())
        errors.append(
            f"clusters.{name}.balancer: unknown balancer {cluster.balancer!r} (known: {known})"
            if isinstance(exc, KeyError)
            else f"clusters.{name}.lb: {exc}"
        )


def _check_route(
    i: int,
    route: RouteConfig,
    clusters: dict[str, ClusterConfig],
    listener_names: set[str],
    errors: list[str],
) -> None:
    if route.cluster not in clusters:
        errors.append(f"routes[{i}].cluster: no cluster named {route.cluster!r}")
    match = route.match
    paths = [p for p in (match.path_prefix, match.path_exact, match.path_regex) if p is not None]
    if len(paths) > 1:
        errors.append(f"routes[{i}].match: use only one of path_prefix, path_exact, path_regex")
    for key in ("path_prefix", "path_exact"):
        value = getattr(match, key)
        if value is not None and not value.startswith("/"):
            errors.append(f"routes[{i}].match.{key}: must start with '/'")
    if match.path_regex is not None:
        try:
            re.compile(match.path_regex)
        except re.error as exc:
            errors.append(f"routes[{i}].match.path_regex: invalid regex: {exc}")
    if route.prefix_rewrite is not None and match.path_prefix is None:
        errors.append(f"routes[{i}].prefix_rewrite: needs match.path_prefix")
    for name in route.listeners or ():
        if name not in listener_names:
            errors.append(f"routes[{i}].listeners: no listener named {name!r}")
    hk = route.hash_key
    if hk is not None:
        chosen = [hk.header, hk.cookie, hk.query_parameter, hk.source_ip or None, hk.path or None]
        if sum(v is not None for v in chosen) != 1:
            errors.append(
                f"routes[{i}].hash_key: set exactly one of header, cookie, "
                "source_ip, path, query_parameter"
            )


def load_text(text: str, source: str = "<config>") -> Config:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"TOML syntax: {exc}"], source) from None
    return validate(raw, source)


def load_file(path: str | Path) -> Config:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"cannot read config: {exc.strerror}"], str(path)) from None
    return load_text(text, str(path))


def endpoint_list(cluster: ClusterConfig) -> list[EndpointConfig]:
    """Endpoints with the string shorthand expanded."""
    return [EndpointConfig(address=e) if isinstance(e, str) else e for e in cluster.endpoints]
