from pathlib import Path

import pytest

from meshlb.config import ConfigError, load_file, load_text

ROOT = Path(__file__).resolve().parents[2]

MINIMAL = """
[[listeners]]
address = "127.0.0.1:8080"

[clusters.compute]
endpoints = ["127.0.0.1:9001"]
"""


def errors_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_text(text)
    return info.value.errors


def test_a_minimal_config_gets_defaults() -> None:
    config = load_text(MINIMAL)
    listener = config.listeners[0]
    assert listener.codec == "llhttp"
    assert listener.max_header_bytes == 64 * 1024
    assert listener.header_timeout == 10.0
    assert config.clusters["compute"].balancer == "round_robin"
    assert config.clusters["compute"].connect_timeout == 2.0


def test_units_are_parsed_in_place() -> None:
    config = load_text(
        MINIMAL.replace('8080"', '8080"\nheader_timeout = "250ms"\nmax_header_bytes = "32KiB"')
    )
    assert config.listeners[0].header_timeout == 0.25
    assert config.listeners[0].max_header_bytes == 32 * 1024


def test_every_error_is_listed_with_its_toml_path() -> None:
    errors = errors_of(
        """
bogus = 1
[[listeners]]
address = "127.0.0.1:8080"
codec = "fast"
[clusters.compute]
endpoints = ["127.0.0.1:9001", { address = "x:1", weight = -1 }]
connect_timeout = "5x"
pool.max_idle = "many"
[[routes]]
cluster = "compute"
match.bogus = 1
"""
    )
    assert "bogus: unknown key" in errors
    assert any(e.startswith("listeners[0].codec:") for e in errors)
    assert any(e.startswith("clusters.compute.endpoints[1].weight:") for e in errors)
    assert any(
        e.startswith("clusters.compute.connect_timeout: expected a duration") for e in errors
    )
    assert any(e.startswith("clusters.compute.pool.max_idle:") for e in errors)
    assert "routes[0].match.bogus: unknown key" in errors
    assert len(errors) == 6


def test_semantic_errors_name_their_path() -> None:
    errors = errors_of(
        """
[[listeners]]
address = "127.0.0.1:8080"
[clusters.compute]
endpoints = ["127.0.0.1:9001", "127.0.0.1:9002", "127.0.0.1:99999"]
[clusters.other]
endpoints = ["127.0.0.1:9001"]
balancer = "nope"
[[routes]]
cluster = "missing"
match.path_regex = "("
[[routes]]
cluster = "compute"
match.path_prefix = "no-slash"
"""
    )
    assert "clusters.compute.endpoints[2].address: port 99999 out of range" in errors
    assert any(e.startswith("clusters.other.balancer: unknown balancer 'nope'") for e in errors)
    assert "routes[0].cluster: no cluster named 'missing'" in errors
    assert any(e.startswith("routes[0].match.path_regex: invalid regex") for e in errors)
    assert "routes[1].match.path_prefix: must start with '/'" in errors


def test_several_clusters_need_routes() -> None:
    errors = errors_of(MINIMAL + '[clusters.b]\nendpoints = ["127.0.0.1:1"]\n')
    assert errors == ["routes: required when more than one cluster is defined"]


def test_missing_sections_are_reported() -> None:
    assert errors_of("") == [
        "listeners: required key is missing",
        "clusters: required key is missing",
    ]


def test_toml_syntax_errors_are_config_errors() -> None:
    errors = errors_of("[[listeners]\n")
    assert errors[0].startswith("TOML syntax:")


def test_an_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        load_file(tmp_path / "absent.toml")


@pytest.mark.parametrize("path", sorted((ROOT / "conf").glob("*.toml")), ids=lambda p: p.name)
def test_every_shipped_config_loads(path: Path) -> None:
    load_file(path)


def test_trusted_proxies_and_upgrade_protocols_are_checked_per_listener() -> None:
    listener = """
[[listeners]]
address = "127.0.0.1:8081"
trusted_proxies = ["10.0.0.0/8", "10.0.0.1/8", "proxy.example", "::1"]
upgrade = ["websocket", "web socket"]
"""
    errors = errors_of(MINIMAL + listener)
    assert errors == [
        "listeners[1].trusted_proxies[1]: 10.0.0.1/8 has host bits set",
        "listeners[1].trusted_proxies[2]: 'proxy.example' does not appear to be an IPv4 or "
        "IPv6 network",
        "listeners[1].upgrade[1]: 'web socket' is not a protocol name (a token such as "
        '"websocket")',
    ]


def test_forwarding_defaults_trust_nobody_and_upgrade_to_websocket_only() -> None:
    listener = load_text(MINIMAL).listeners[0]
    assert listener.trusted_proxies == [] and listener.upgrade == ["websocket"]


def test_a_tcp_listener_has_no_fields_to_trust() -> None:
    errors = errors_of(
        MINIMAL
        + """
[[listeners]]
address = "127.0.0.1:8081"
protocol = "tcp"
cluster = "compute"
trusted_proxies = ["10.0.0.0/8"]
"""
    )
    assert errors == ["listeners[1].trusted_proxies: only http listeners forward fields"]


def test_an_empty_admin_token_is_refused() -> None:
    # It would read as "no token" and silently turn authentication off.
    for token in ('""', '"  "'):
        assert errors_of(MINIMAL + f"[admin]\ntoken = {token}\n") == [
            "admin.token: must not be empty (leave it out to run without a token)"
        ]


@pytest.mark.parametrize("address", ["0.0.0.0:9901", "[::]:9901", "10.0.0.5:9901", "admin:9901"])
def test_an_admin_api_off_loopback_needs_a_token(address: str) -> None:
    (error,) = errors_of(MINIMAL + f'[admin]\naddress = "{address}"\n')
    assert error.startswith(f"admin.address: {address} is not a loopback address")
    load_text(MINIMAL + f'[admin]\naddress = "{address}"\ntoken = "s3cret"\n')
    load_text(MINIMAL + f'[admin]\naddress = "{address}"\nallow_insecure = true\n')
    load_text(MINIMAL + f'[admin]\naddress = "{address}"\nenabled = false\n')


@pytest.mark.parametrize("address", ["127.0.0.1:9901", "[::1]:0", "localhost:9901", ":9901"])
def test_an_admin_api_on_loopback_needs_no_token(address: str) -> None:
    assert load_text(MINIMAL + f'[admin]\naddress = "{address}"\n').admin.token is None
