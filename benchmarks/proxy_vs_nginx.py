"""meshlb against nginx as an HTTP/1.1 reverse proxy, side by side in one run.

Method (see BENCHMARKING in the README): nginx serves a 12-byte body as the backend on
core 1; the proxy under test (nginx `proxy_pass` with upstream keepalive, or meshlb with one
worker) runs alone on core 0; wrk (-t1 -c64) runs on core 1. Each contender runs for the
same time after a warm-up, alternating A B A B; the table shows medians and the ratio.
CPU µs/request is the proxy's own user+system CPU divided by the requests it served.

    python benchmarks/proxy_vs_nginx.py [--seconds 8] [--rounds 2]
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
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=2)
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
        for _ in range(args.rounds):
            results["nginx"].append(
                measure(f"http://127.0.0.1:{nginx_port}/", nginx.pids(), args.seconds)
            )
            results["meshlb"].append(
                measure(f"http://127.0.0.1:{meshlb_port}/", [meshlb.pid], args.seconds)
            )
    finally:
        meshlb.terminate()
        meshlb.wait(10)
        nginx.stop()
        backend.stop()

    med = {
        name: [statistics.median(r[i] for r in runs) for i in range(3)] + [sum(r[3] for r in runs)]
        for name, runs in results.items()
    }
    base_rps, base_cpu = med["nginx"][0], med["nginx"][2]
    rows = []
    for name in ("nginx", "meshlb"):
        rps, p99, cpu, errors = med[name]
        rows.append(
            [
                name if name == "nginx" else f"meshlb ({args.codec})",
                f"{rps:,.0f}",
                f"{p99:.2f}",
                f"{cpu:.1f}",
                f"{rps / base_rps:.2f}",
                f"{base_cpu / cpu:.2f}",
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
    ratio = med["meshlb"][0] / base_rps
    print(f"\nmeshlb reaches {ratio:.2f}x nginx's requests/s per core (target >= 0.60)")


if __name__ == "__main__":
    main()
