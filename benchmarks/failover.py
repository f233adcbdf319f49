"""Failover under load: what clients see while one of three backends fails, fault by fault.

    python benchmarks/failover.py                      # every fault, ~10 s each
    python benchmarks/failover.py --faults kill,503 --rate 200
    python benchmarks/failover.py --root /path/to/other/checkout   # compare two trees

meshlb runs from `--root` (`python -m meshlb run -c ...`, the config is printed first) in
front of three fault backends (`tests/faults.py`, child processes). A generator on raw
keep-alive sockets sends GETs at a steady `--rate` over `--connections` connections. For
each fault: one quiet second, then the fault on backend b2 for `--fault-seconds`, then b2
recovers (restarted after a kill) and traffic runs `--recover-seconds` more.

Per fault it prints: requests sent and failed (not 200, or no response) from the fault's start
to the end of the recovery; p50/p99/max latency while the fault lasts; time to eject, the last
moment (after the fault began) a request still touched b2 according to meshlb's access log
(served by it, or retried away from it) before half a second without any; and time to
readmit, from the recovery to the first 200 that b2 served (0 if a half-open probe had already
readmitted it). All on 127.0.0.1, bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import free_port, print_table, wait_port  # noqa: E402
from tests.faults import FaultProcess  # noqa: E402

FAULTS = {
    "kill": "SIGKILL the process; restart it on the same port",
    "blackhole": "accept and never answer",
    "reset": "reset every connection before answering",
    "503": "answer 503 (Retry-After: 1)",
    "slow": "answer after 100 ms (latency outlier)",
    "refuse": "stop listening",
}

CONFIG = """\
access_log = "{log}"

[[listeners]]
address = "127.0.0.1:{port}"

[clusters.app]
endpoints = [{endpoints}]
lb.slow_start_window = 2.0

[clusters.app.health]
interval = "500ms"
timeout = "250ms"
rise = 2
fall = 2
http.path = "/healthz"

[clusters.app.outlier]
interval = "2s"
base_ejection_time = "3s"

[clusters.app.retry]
per_try_timeout = "300ms"
"""


@dataclass(slots=True)
class Sample:
    start: float  # wall clock, to match the access log
    latency: float
    status: int  # 0: no response
    node: str


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length, chunked = 0, False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if not chunked:
        return status, await reader.readexactly(length)
    body = b""
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        body += (await reader.readexactly(size + 2))[:size]
        if size == 0:
            return status, body


async def connection(port: int, rate: float, until: float, samples: list[Sample]) -> None:
    loop = asyncio.get_running_loop()
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    interval = 1.0 / rate
    next_at = loop.time() + interval * (hash(id(samples)) % 100) / 100
    n = 0
    while time.time() < until:
        delay = next_at - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        next_at = max(next_at + interval, loop.time())
        n += 1
        start_wall, start = time.time(), loop.time()
        status, node = 0, ""
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            assert reader is not None
            writer.write(b"GET /bench/%d HTTP/1.1\r\nhost: bench\r\n\r\n" % n)
            async with asyncio.timeout(5.0):
                status, body = await read_response(reader)
            if status == 200:
                node = json.loads(body).get("node", "")
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError):
            if writer is not None:
                writer.close()
            reader = writer = None
        samples.append(Sample(start_wall, loop.time() - start, status, node))
    if writer is not None:
        writer.close()


async def generate(port: int, rate: float, connections: int, seconds: float) -> list[Sample]:
    samples: list[Sample] = []
    until = time.time() + seconds
    await asyncio.gather(
        *(connection(port, rate / connections, until, samples) for _ in range(connections))
    )
    return samples


def inject(backend: FaultProcess, fault: str) -> None:
    if fault == "kill":
        backend.kill()
    elif fault == "slow":
        backend.set_mode("slow", delay=0.1)
    elif fault == "503":
        backend.set_mode("503", retry_after=1)
    else:
        backend.set_mode(fault)


def recover(backend: FaultProcess, fault: str) -> None:
    if fault == "kill":
        backend.restart()
    else:
        backend.set_mode("normal", retry_after="")


QUIET = 0.5  # seconds without a request touching b2 that count as "ejected"


def first_quiet(times: list[float], gap: float) -> float:
    """The first time after which nothing happens for `gap` seconds (a half-open probe later
    on does not move the ejection)."""
    for earlier, later in zip(times, times[1:], strict=False):
        if later - earlier >= gap:
            return earlier
    return times[-1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, int(len(ordered) * q / 100.0 + 0.5) - 1))]


def access_entries(log: Path, since: float) -> list[dict[str, Any]]:
    out = []
    for line in log.read_text().splitlines():
        entry = json.loads(line)
        if float(entry["ts"]) >= since:
            out.append(entry)
    return out


def run_fault(
    fault: str, port: int, backends: list[FaultProcess], log: Path, args: argparse.Namespace
) -> list[str]:
    victim = backends[1]
    total = 1.0 + args.fault_seconds + args.recover_seconds
    marks: dict[str, float] = {}

    async def scenario() -> list[Sample]:
        load = asyncio.ensure_future(generate(port, args.rate, args.connections, total))
        await asyncio.sleep(1.0)
        marks["fault"] = time.time()
        await asyncio.to_thread(inject, victim, fault)
        await asyncio.sleep(args.fault_seconds)
        marks["recover"] = time.time()
        await asyncio.to_thread(recover, victim, fault)
        return await load

    samples = asyncio.run(scenario())
    time.sleep(0.3)  # the access log is flushed every tick
    t0, t1 = marks["fault"], marks["recover"]
    scored = [s for s in samples if s.start >= t0]
    during = [s.latency for s in scored if s.start < t1]
    failed = sum(1 for s in scored if s.status != 200)
    entries = access_entries(log, t0 - 0.5)
    touched = [
        float(e["ts"])
        for e in entries
        if float(e["ts"]) < t1
        and (e.get("endpoint") == victim.address or int(str(e.get("attempts", 1))) > 1)
    ]
    eject = f"{first_quiet(sorted(touched), QUIET) - t0:.2f}" if touched else "-"
    back = [
        float(e["ts"])
        for e in entries
        if float(e["ts"]) >= t1 and e.get("endpoint") == victim.address and e["status"] == 200
    ]
    readmit = f"{min(back) - t1:.2f}" if back else f">{args.recover_seconds:g}"
    ms = [f"{1000 * v:.1f}" for v in (statistics.median(during), percentile(during, 99))]
    return [fault, str(len(scored)), str(failed), *ms, f"{1000 * max(during):.0f}", eject, readmit]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faults", default=",".join(FAULTS), help="comma-separated")
    parser.add_argument("--rate", type=float, default=300.0, help="requests per second")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--fault-seconds", type=float, default=5.0)
    parser.add_argument("--recover-seconds", type=float, default=4.0)
    parser.add_argument("--root", type=Path, default=ROOT, help="meshlb checkout to run")
    args = parser.parse_args()
    faults = args.faults.split(",")
    unknown = set(faults) - set(FAULTS)
    if unknown:
        sys.exit(f"unknown fault(s) {', '.join(sorted(unknown))}; known: {', '.join(FAULTS)}")

    rows: list[list[str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for fault in faults:
            backends = [FaultProcess(f"b{i}") for i in (1, 2, 3)]
            port = free_port()
            log = Path(tmp) / f"access-{fault}.log"
            config = CONFIG.format(
                log=log,
                port=port,
                endpoints=", ".join(f'"{b.address}"' for b in backends),
            )
            if not rows:
                print(f"meshlb from {args.root}, config:\n\n{config}")
            path = Path(tmp) / "failover.toml"
            path.write_text(config)
            proxy = subprocess.Popen(
                [sys.executable, "-m", "meshlb", "--log-level", "warning", "run", "-c", str(path)],
                cwd=args.root,
                stderr=subprocess.DEVNULL,
            )
            try:
                wait_port(port)
                time.sleep(0.5)  # first health checks
                rows.append(run_fault(fault, port, backends, log, args))
                print(f"  {fault}: {FAULTS[fault]}: done", file=sys.stderr)
            finally:
                proxy.terminate()
                proxy.wait(10)
                for backend in backends:
                    backend.stop()
    print(
        f"\n{args.rate:g} req/s over {args.connections} connections; fault on b2 for "
        f"{args.fault_seconds:g} s, then {args.recover_seconds:g} s of recovery\n"
    )
    headers = ["fault", "sent", "failed", "p50 ms", "p99 ms", "max ms", "eject s", "readmit s"]
    print_table(headers, rows)


if __name__ == "__main__":
    main()
