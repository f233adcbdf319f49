"""CPU per request with 2 workers against 1 worker (the supervisor model's overhead).

nginx serves a 12-byte body as the backend; meshlb runs with `--workers 1` and then
`--workers 2`; `meshlb bench --rate` sends the same fixed request rate to each (an open
model: equal load, so both configurations batch alike per wakeup, which a saturating
closed-loop generator on a 2-core machine would not give them). CPU µs/request is the
user+system CPU of the whole meshlb process group (supervisor and workers) divided by the
requests served: the ratio is what SO_REUSEPORT workers, the supervisor and its IPC cost.

    python benchmarks/workers_scaling.py [--seconds 8] [--rounds 2] [--rate 6000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    ROOT,
    Nginx,
    children,
    cpu_seconds,
    free_port,
    need,
    print_table,
    static_server,
    wait_port,
)


def bench(url: str, seconds: float, rate: int) -> int:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "meshlb",
            "bench",
            url,
            "-c",
            "64",
            "-d",
            f"{seconds:g}s",
            "--rate",
            str(rate),
            "--workers",
            "1",
            "--json",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    )
    return int(json.loads(out.stdout)["requests"])


def measure(workers: int, backend_port: int, seconds: float, rate: int) -> tuple[float, float]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "meshlb",
            "run",
            "--listen",
            f"127.0.0.1:{port}",
            "--upstream",
            f"127.0.0.1:{backend_port}",
            "--workers",
            str(workers),
            "--admin",
            "off",
        ],
        cwd=ROOT,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(port)
        url = f"http://127.0.0.1:{port}/"
        bench(url, 2, rate)
        pids = [proc.pid, *children(proc.pid)]
        before = cpu_seconds(pids)
        requests = bench(url, seconds, rate)
        used = cpu_seconds(pids) - before
        return requests / seconds, used / max(requests, 1) * 1e6
    finally:
        proc.terminate()
        proc.wait(20)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--rate", type=int, default=6000)
    args = parser.parse_args()
    need("nginx", "taskset")
    backend_port = free_port()
    backend = Nginx(static_server(backend_port), cpus="0,1")
    backend.start()
    results: dict[int, list[tuple[float, float]]] = {1: [], 2: []}
    try:
        wait_port(backend_port)
        for _ in range(args.rounds):
            for workers in (1, 2):
                results[workers].append(measure(workers, backend_port, args.seconds, args.rate))
    finally:
        backend.stop()
    med = {
        w: (statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs))
        for w, runs in results.items()
    }
    rows = [
        [
            f"{w} worker{'s' if w > 1 else ''}",
            f"{med[w][0]:,.0f}",
            f"{med[w][1]:.1f}",
            f"{med[w][1] / med[1][1]:.2f}",
        ]
        for w in (1, 2)
    ]
    print(
        f"meshlb bench --rate {args.rate} -c64, {args.seconds:g}s x {args.rounds} rounds, "
        "all processes on cores 0-1"
    )
    print_table(["meshlb", "requests/s", "CPU µs/req", "CPU/req vs 1 worker"], rows)
    print(
        f"\n2 workers cost {med[2][1] / med[1][1]:.2f}x the CPU per request of 1 (target <= 1.10)"
    )


if __name__ == "__main__":
    main()
