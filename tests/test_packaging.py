"""Packaging files: the Kubernetes manifests and the systemd unit agree with meshlb's config."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from meshlb.config import Config, load_text
from meshlb.config.units import parse_address

CONF = Path(__file__).resolve().parents[1] / "conf"


def documents(name: str) -> dict[str, list[dict[str, Any]]]:
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for doc in yaml.safe_load_all((CONF / "k8s" / name).read_text()):
        if doc is not None:
            assert {"apiVersion", "kind", "metadata"} <= set(doc), doc
            by_kind.setdefault(doc["kind"], []).append(doc)
    return by_kind


def meshlb_config(docs: dict[str, list[dict[str, Any]]]) -> tuple[str, Config]:
    (config_map,) = docs["ConfigMap"]
    ((key, text),) = config_map["data"].items()
    return key, load_text(text, f"ConfigMap {config_map['metadata']['name']}/{key}")


def port(address: str) -> int:
    return parse_address(address, allow_any_port=True)[1]


def container_ports(container: dict[str, Any]) -> dict[str, int]:
    return {p["name"]: p["containerPort"] for p in container["ports"]}


def check_meshlb_container(
    container: dict[str, Any], pod: dict[str, Any], key: str, config: Config
) -> None:
    """Arguments, config mount, probes and shutdown of a meshlb container."""
    args = container["args"]
    assert args[:2] == ["run", "-c"]
    path = Path(args[2])
    assert path.name == key
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == str(path.parent))
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    assert "configMap" in volume

    ports = container_ports(container)
    admin_host, admin_port = parse_address(config.admin.address)
    assert admin_host not in ("127.0.0.1", "localhost"), "the kubelet probes the pod IP"
    assert ports["admin"] == admin_port
    for probe, path_ in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        assert container[probe]["httpGet"] == {"path": path_, "port": "admin"}
    assert pod["terminationGracePeriodSeconds"] > float(config.drain_timeout)

    security = {**pod.get("securityContext", {}), **container.get("securityContext", {})}
    assert security["runAsNonRoot"] is True and security["runAsUser"] != 0
    assert security["allowPrivilegeEscalation"] is False


def test_the_deployment_runs_meshlb_from_its_config_map() -> None:
    docs = documents("deployment.yaml")
    key, config = meshlb_config(docs)
    (deployment,) = docs["Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    check_meshlb_container(container, pod, key, config)
    assert deployment["spec"]["replicas"] >= 2
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    # the pre-stop pause and the drain both fit in the grace period
    pause = int(container["lifecycle"]["preStop"]["exec"]["command"][1])
    assert pod["terminationGracePeriodSeconds"] >= pause + float(config.drain_timeout)

    (service,) = docs["Service"]
    assert service["spec"]["selector"].items() <= labels.items()
    ports = container_ports(container)
    targets = [p["targetPort"] for p in service["spec"]["ports"]]
    assert targets == ["http"], "the Service publishes the proxy, never the admin port"
    assert ports["http"] == port(config.listeners[0].address)


def test_the_network_policy_keeps_the_admin_port_for_monitoring() -> None:
    docs = documents("deployment.yaml")
    _, config = meshlb_config(docs)
    (policy,) = docs["NetworkPolicy"]
    admin = port(config.admin.address)
    rules = policy["spec"]["ingress"]
    open_rules = [r for r in rules if "from" not in r]
    assert all(p["port"] != admin for r in open_rules for p in r["ports"])
    (admin_rule,) = [r for r in rules if any(p["port"] == admin for p in r["ports"])]
    assert admin_rule["from"]


def test_the_sidecar_sits_next_to_the_app_and_carries_both_directions() -> None:
    docs = documents("sidecar.yaml")
    key, config = meshlb_config(docs)
    (deployment,) = docs["Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    (sidecar,) = [c for c in pod.get("initContainers", []) if c["name"] == "meshlb"]
    assert sidecar["restartPolicy"] == "Always"  # a native sidecar
    check_meshlb_container(sidecar, pod, key, config)
    (app,) = pod["containers"]
    assert app["name"] == "app"

    listeners = {lc.name: lc for lc in config.listeners}
    inbound, outbound = listeners["inbound"], listeners["outbound"]
    assert parse_address(outbound.address)[0] == "127.0.0.1"  # only this pod may call out
    env = {e["name"]: e["value"] for e in app["env"]}
    assert env["PAYMENTS_URL"] == f"http://{outbound.address}"
    (local,) = config.clusters["local_app"].endpoints
    assert local == env["LISTEN_ADDR"]
    routes = {r.name: r for r in config.routes}
    assert routes["to-app"].listeners == ["inbound"]
    assert routes["to-payments"].listeners == ["outbound"]

    (service,) = docs["Service"]
    (service_port,) = service["spec"]["ports"]
    assert container_ports(sidecar)[service_port["targetPort"]] == port(inbound.address)


def unit(text: str) -> dict[str, dict[str, list[str]]]:
    """systemd's unit syntax: [Section] headers, Key=Value lines, keys may repeat."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        header = re.fullmatch(r"\[(\w+)\]", line)
        if header:
            current = sections.setdefault(header.group(1), {})
            continue
        key, sep, value = line.partition("=")
        assert current is not None and sep, f"not a unit line: {line!r}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def test_the_systemd_unit_reloads_with_sighup_and_runs_unprivileged() -> None:
    sections = unit((CONF / "meshlb.service").read_text())
    service = {k: v[-1] for k, v in sections["Service"].items()}
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert service["User"] not in ("", "root", "0")
    assert service["Restart"] == "on-failure"
    assert service["KillSignal"] == "SIGTERM"
    start = service["ExecStart"].split()
    assert Path(start[0]).name == "meshlb" and start[1:3] == ["run", "-c"]
    check = service["ExecStartPre"].split()
    assert check[1:] == ["check", "-c", start[3]]
    assert float(service["TimeoutStopSec"]) > 30, "longer than the default drain_timeout"
    assert service["NoNewPrivileges"] == "true"
    assert sections["Install"]["WantedBy"] == ["multi-user.target"]
