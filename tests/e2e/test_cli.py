"""The command line: check, version, quick-mode errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def meshlb(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "meshlb", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=30,
    )


def test_version() -> None:
    out = meshlb("version")
    assert out.returncode == 0 and out.stdout.startswith("meshlb ")
    assert "head scanner: " in out.stdout


def test_check_accepts_the_shipped_edge_config() -> None:
    out = meshlb("check", "-c", "conf/edge.toml")
    assert out.returncode == 0, out.stderr
    assert "ok" in out.stdout


def test_check_lists_every_error_and_exits_1(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[[listeners]]\naddress = "127.0.0.1:8080"\nbogus = true\n'
        '[clusters.compute]\nendpoints = ["127.0.0.1:9001", "127.0.0.1:9002", "127.0.0.1:99999"]\n'
    )
    out = meshlb("check", "-c", str(bad))
    assert out.returncode == 1
    assert "listeners[0].bogus: unknown key" in out.stderr
    out2 = tmp_path / "bad2.toml"
    out2.write_text(
        '[[listeners]]\naddress = "127.0.0.1:8080"\n'
        '[clusters.compute]\nendpoints = ["127.0.0.1:9001", "127.0.0.1:9002", "127.0.0.1:99999"]\n'
    )
    res = meshlb("check", "-c", str(out2))
    assert res.returncode == 1
    assert "clusters.compute.endpoints[2].address: port 99999 out of range" in res.stderr


def test_run_with_a_bad_upstream_names_the_flag() -> None:
    out = meshlb("run", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:99999")
    assert out.returncode == 1
    assert "--upstream #1: port 99999 out of range" in out.stderr


def test_run_with_a_bad_config_exits_1(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[[listeners]]\n")
    out = meshlb("run", "-c", str(bad))
    assert out.returncode == 1
    assert "listeners[0].address: required key is missing" in out.stderr
