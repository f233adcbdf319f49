"""What one load-balancing decision costs: ns per select() and pick(), per algorithm and size.

    taskset -c 1 python benchmarks/pick_cost.py            # table + target check (exit 1 on miss)
    python benchmarks/pick_cost.py --sizes 3,100 --runs 5  # quicker

Every balancer is built with `meshlb.balance.create` over equal-weight endpoints (and, for the
weighted algorithms, weights 1-5 too) carrying a few random requests and connections in
flight. Each run times a loop over 1,024 pick contexts with random 64-bit hash keys, minus the
cost of the empty loop; the table shows the median run, and the best one for `select` (what
the code costs when the machine is quiet). `select` is what the proxy calls (one pick plus
the shared checks), `pick` the algorithm alone; `rebuild` is the median of three first
rebuilds of a fresh balancer, in milliseconds.

Targets, checked on the median `select` cost at 1,000 equal-weight endpoints: round_robin and
least_request <= 1 us, ring_hash and maglev <= 2 us. The machine is shared and noisy: pin the
process to one core, and rerun before believing a miss.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import time
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from meshlb import balance  # noqa: E402
from meshlb.balance import BalancerOptions, select  # noqa: E402
from meshlb.model import Endpoint, PickContext, Snapshot  # noqa: E402

TARGETS_NS = {"round_robin": 1000.0, "least_request": 1000.0, "ring_hash": 2000.0, "maglev": 2000.0}
TARGET_SIZE = 1000
WEIGHTED = ("round_robin", "random", "least_request", "peak_ewma")
CONTEXTS = 1024


def cluster(size: int, weighted: bool, rng: random.Random) -> tuple[Endpoint, ...]:
    endpoints = []
    for i in range(size):
        endpoint = Endpoint("bench", f"10.{i // 65536}.{i // 256 % 256}.{i % 256}", 8080)
        endpoint.weight = 1 + i % 5 if weighted else 1
        endpoint.active_requests = rng.randrange(4)
        endpoint.active_connections = rng.randrange(4)
        endpoints.append(endpoint)
    return tuple(endpoints)


def per_call_ns(
    statement: str, namespace: dict[str, object], runs: int, number: int
) -> tuple[float, float]:
    """Median and best over `runs` of the time per context of `statement`, minus the empty
    loop. The best run is what the code costs; the median includes the machine's noise."""
    timer = timeit.Timer(statement, globals=namespace)
    empty = timeit.Timer("for ctx in contexts: pass", globals=namespace)
    samples = []
    for _ in range(runs):
        loop = min(empty.repeat(repeat=3, number=number))
        samples.append((timer.timeit(number) - loop) / (number * CONTEXTS) * 1e9)
    return statistics.median(samples), min(samples)


def rebuild_ms(name: str, endpoints: tuple[Endpoint, ...]) -> float:
    """A fresh balancer's first rebuild (balancers skip rebuilds of unchanged membership)."""
    samples = []
    for version in range(3):
        balancer = balance.create(name, BalancerOptions())
        snapshot = Snapshot.of(endpoints, version + 100)
        gc.collect()
        start = time.perf_counter()
        balancer.rebuild(snapshot)
        samples.append((time.perf_counter() - start) * 1e3)
    return statistics.median(samples)


def measure(name: str, size: int, weighted: bool, runs: int) -> tuple[float, float, float, float]:
    """Median and best select ns, median pick ns and rebuild ms of one table row."""
    rng = random.Random(size)
    endpoints = cluster(size, weighted, rng)
    balancer = balance.create(name, BalancerOptions())
    snapshot = Snapshot.of(endpoints, 1)
    balancer.rebuild(snapshot)
    contexts = [PickContext(hash_key=rng.getrandbits(64), now=1.0) for _ in range(CONTEXTS)]
    namespace: dict[str, object] = {
        "select": select,
        "balancer": balancer,
        "snapshot": snapshot,
        "contexts": contexts,
    }
    selecting = "for ctx in contexts: select(balancer, ctx, snapshot)"
    picking = "for ctx in contexts: balancer.pick(ctx, snapshot)"
    # Aim for ~20 ms per run whatever the algorithm costs.
    probe, _ = per_call_ns(selecting, namespace, 1, 1)
    number = max(1, int(20e6 / max(probe, 50.0) / CONTEXTS))
    select_ns, select_best = per_call_ns(selecting, namespace, runs, number)
    pick_ns, _ = per_call_ns(picking, namespace, runs, number)
    return select_ns, select_best, pick_ns, rebuild_ms(name, endpoints)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="3,100,1000", help="comma-separated endpoint counts")
    parser.add_argument("--runs", type=int, default=7, help="timed runs per cell (median)")
    parser.add_argument("--no-check", action="store_true", help="report without failing")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    misses = []
    print(f"python {sys.version.split()[0]}, median of {args.runs} runs, ns per call\n")
    header = f"| {'algorithm':<27} | {'endpoints':>9} | {'select ns':>9} | {'best':>7} "
    header += f"| {'pick ns':>8} "
    header += f"| {'rebuild ms':>10} | {'target':>8} |"
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for name in balance.BUILTIN:
        for weighted in (False, True) if name in WEIGHTED else (False,):
            label = f"{name} (weights 1-5)" if weighted else name
            for size in sizes:
                select_ns, best, pick_ns, rebuild = measure(name, size, weighted, args.runs)
                target = TARGETS_NS.get(name) if size == TARGET_SIZE and not weighted else None
                verdict = ""
                if target is not None:
                    verdict = "ok" if select_ns <= target else "MISS"
                    verdict = f"{target / 1000:.0f} us {verdict}"
                    if select_ns > target:
                        misses.append(f"{label} at {size}: {select_ns:.0f} ns > {target:.0f} ns")
                print(
                    f"| {label:<27} | {size:>9,} | {select_ns:>9,.0f} | {best:>7,.0f} "
                    f"| {pick_ns:>8,.0f} "
                    f"| {rebuild:>10.2f} | {verdict:>8} |",
                    flush=True,
                )
    if misses:
        print("\ntargets missed:\n  " + "\n  ".join(misses))
        return 0 if args.no_check else 1
    print("\nall targets met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
