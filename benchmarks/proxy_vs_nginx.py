"""meshlb against nginx as an HTTP/1.1 reverse proxy, side by side in one run.

Method (see BENCHMARKING in the README): nginx serves a 12-byte body as the backend on
core 1; the proxy under test (nginx `proxy_pass` with upstream keepalive, or meshlb with one
worker) runs alone on core 0; wrk (-t1 -c64) runs on core 1. Each contender runs for the
same time after a warm-up, in rounds of A B then B A (so that a drift of the shared machine
weighs on both alike); the table shows medians, and each ratio is the median of the
per-round ratios (the two runs of a round are seconds apart, so the ratio is steadier than
either figure). CPU µs/request is the proxy's own user+system CPU divided by the requests
it served.

Requests/s is the figure the target is stated in: each proxy has one core, so its
requests/s is its requests/s per core. "CPU eff." compares CPU time per request instead,
which is the same ratio when both proxies saturate their core, and the fairer one when the
shared core 1 (wrk and the backend) limits them first.

    python benchmarks/proxy_vs_nginx.py [--seconds 4] [--rounds 8]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    ROOT,
    Nginx,
    cpu_seconds,
    free_port,
    need,
    print_table,
    proxy_server,
    run_wrk,
    static_server,
    wait_port,
)


def measure(url: str, pids: list[int], seconds: float) -> tuple[float, float, float, int]:
    run_wrk(url, seconds=2)  # warm-up
    before = cpu_seconds(pids)
    result = run_wrk(url, seconds=seconds)
    used = cpu_seconds(pids) - before
    return result.rps, result.p99_ms, used / max(result.requests, 1) * 1e6, result.errors


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--codec", default="llhttp")
    args = parser.parse_args()
    need("nginx", "wrk", "taskset")

    backend_port, nginx_port, meshlb_port = free_port(), free_port(), free_port()
    backend = Nginx(static_server(backend_port, "hello world\n"), cpus="1")
    nginx = Nginx(proxy_server(nginx_port, backend_port), cpus="0")
    meshlb = subprocess.Popen(
        [
            "taskset",
            "-c",
            "0",
            sys.executable,
            "-m",
            "meshlb",
            "run",
            "--listen",
            f"127.0.0.1:{meshlb_port}",
            "--upstream",
            f"127.0.0.1:{backend_port}",
            "--codec",
            args.codec,
        ],
        cwd=ROOT,
        stderr=subprocess.DEVNULL,
    )
    results: dict[str, list[tuple[float, float, float, int]]] = {"nginx": [], "meshlb": []}
    try:
        backend.start()
        nginx.start()
        for port in (backend_port, nginx_port, meshlb_port):
            wait_port(port)
        contenders = {
            "nginx": (f"http://127.0.0.1:{nginx_port}/", nginx.pids()),
            "meshlb": (f"http://127.0.0.1:{meshlb_port}/", [meshlb.pid]),
        }
        for round_ in range(args.rounds):
            order = ("nginx", "meshlb") if round_ % 2 == 0 else ("meshlb", "nginx")
            for name in order:
                url, pids = contenders[name]
                results[name].append(measure(url, pids, args.seconds))
    finally:
        meshlb.terminate()
        meshlb.wait(10)
        nginx.stop()
        backend.stop()

    med = {
        name: [statistics.median(r[i] for r in runs) for i in range(3)] + [sum(r[3] for r in runs)]
        for name, runs in results.items()
    }
    pairs = list(zip(results["nginx"], results["meshlb"], strict=True))
    ratio = statistics.median(m[0] / n[0] for n, m in pairs)
    cpu_ratio = statistics.median(n[2] / m[2] for n, m in pairs)
    rows = []
    for name in ("nginx", "meshlb"):
        rps, p99, cpu, errors = med[name]
        rows.append(
            [
                name if name == "nginx" else f"meshlb ({args.codec})",
                f"{rps:,.0f}",
                f"{p99:.2f}",
                f"{cpu:.1f}",
                "1.00" if name == "nginx" else f"{ratio:.2f}",
                "1.00" if name == "nginx" else f"{cpu_ratio:.2f}",
                str(int(errors)),
            ]
        )
    print(
        f"wrk -t1 -c64, {args.seconds:g}s x {args.rounds} rounds, proxy on core 0, "
        "backend nginx and wrk on core 1"
    )
    print_table(
        [
            "proxy",
            "requests/s",
            "p99 ms",
            "CPU µs/req",
            "rps vs nginx",
            "CPU eff. vs nginx",
            "errors",
        ],
        rows,
    )
    rounds = ", ".join(f"{m[0] / n[0]:.2f}" for n, m in pairs)
    print(f"\nper round, requests/s vs nginx: {rounds}")
    print(
        f"meshlb reaches {ratio:.2f}x nginx's requests/s per core (target >= 0.60); "
        f"{cpu_ratio:.2f}x by CPU time per request"
    )


if __name__ == "__main__":
    main()
