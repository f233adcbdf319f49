"""The admin API of a running proxy: live counters, drain, reload, metrics that match traffic."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import ROOT, free_port


def test_admin_api_drives_and_reports_a_live_proxy(start_meshlb, backends, tmp_path) -> None:
    port, admin_port = free_port(), free_port()
    cfg = tmp_path / "m.toml"
    endpoints = ", ".join(f'"{b.address}"' for b in backends)
    cfg.write_text(
        f"""
[admin]
address = "127.0.0.1:{admin_port}"
[[listeners]]
name = "edge"
address = "127.0.0.1:{port}"
[clusters.app]
endpoints = [{endpoints}]
[[routes]]
name = "all"
cluster = "app"
"""
    )
    m = start_meshlb("run", "-c", str(cfg), port=port)
    admin = f"http://127.0.0.1:{admin_port}"
    with httpx.Client(base_url=m.url) as client:
        for i in range(30):
            assert client.get(f"/{i}").status_code == 200
        assert client.get("/status/503").status_code == 503

    clusters = httpx.get(admin + "/clusters").json()
    (app,) = [c for c in clusters["clusters"] if c["name"] == "app"]
    assert {e["address"] for e in app["endpoints"]} == {b.address for b in backends}
    assert sum(e["total_requests"] for e in app["endpoints"]) == 31
    assert all(e["latency_avg_ms"] > 0 for e in app["endpoints"])

    families = {
        f.name: f for f in text_string_to_metric_families(httpx.get(admin + "/metrics").text)
    }
    by_class = {
        s.labels["code_class"]: s.value
        for s in families["meshlb_downstream_requests"].samples
        if s.name.endswith("_total") and s.labels.get("route") == "all"
    }
    assert by_class["2xx"] == 30 and by_class["5xx"] == 1
    duration = families["meshlb_upstream_request_duration_seconds"]
    count = [s.value for s in duration.samples if s.name.endswith("_count")]
    assert count == [31]

    # drain one endpoint: no new requests reach it
    drained = backends[0].address
    r = httpx.post(f"{admin}/clusters/app/endpoints/{drained}/drain")
    assert r.status_code == 200
    before = len(backends[0].requests)
    seen = Counter(httpx.get(m.url + "/x").json()["backend"] for _ in range(12))
    assert "b1" not in seen and len(backends[0].requests) == before
    assert httpx.post(f"{admin}/clusters/app/endpoints/{drained}/undrain").status_code == 200
    assert httpx.post(f"{admin}/clusters/app/endpoints/10.9.9.9:1/drain").status_code == 404

    # reload through the API: a bad file is refused with every error, a good one applies
    good = cfg.read_text()
    cfg.write_text(good.replace('name = "all"', 'name = "all"\nbogus = 1'))
    r = httpx.post(admin + "/reload")
    assert r.status_code == 400 and "routes[0].bogus: unknown key" in r.json()["errors"]
    cfg.write_text(good.replace('name = "all"', 'name = "renamed"'))
    assert httpx.post(admin + "/reload").status_code == 200
    httpx.get(m.url + "/after-reload")
    routes = {
        s.labels.get("route")
        for s in text_string_to_metric_families(httpx.get(admin + "/metrics").text)
        for s in s.samples
        if "route" in s.labels
    }
    assert "renamed" in routes
    assert httpx.get(admin + "/readyz").status_code == 200


def test_the_config_shown_by_the_admin_api_holds_no_secret(start_meshlb, tmp_path) -> None:
    port, admin_port = free_port(), free_port()
    cfg = tmp_path / "m.toml"
    cfg.write_text(
        f"""
[admin]
address = "127.0.0.1:{admin_port}"
token = "adm1n-t0ken"
[[listeners]]
address = "127.0.0.1:{port}"
[clusters.app]
endpoints = ["127.0.0.1:9"]
health.interval = "1h"
health.http.headers = {{ Authorization = "Bearer pr0be-t0ken" }}
on_unhealthy.webhook = "http://ops:h00k-pw@127.0.0.1:9/page"
[[routes]]
cluster = "app"
request_headers_add = {{ X-Api-Key = "upstr3am-key" }}
"""
    )
    start_meshlb("run", "-c", str(cfg), port=port)
    auth = {"Authorization": "Bearer adm1n-t0ken"}
    text = httpx.get(f"http://127.0.0.1:{admin_port}/config", headers=auth).text
    for secret in ("adm1n-t0ken", "pr0be-t0ken", "h00k-pw", "upstr3am-key"):
        assert secret not in text
    view = json.loads(text)
    assert view["clusters"]["app"]["health"]["http"]["headers"] == {"Authorization": "<redacted>"}
    assert view["clusters"]["app"]["on_unhealthy"]["webhook"] == (
        "http://ops:<redacted>@127.0.0.1:9/page"
    )


def test_an_open_admin_api_off_loopback_is_refused_at_start() -> None:
    args = ["run", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:9"]
    done = subprocess.run(
        [sys.executable, "-m", "meshlb", *args, "--admin", "0.0.0.0:0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 1
    assert "--admin: 0.0.0.0:0 is not a loopback address and admin.token is not set" in (
        done.stderr
    )
