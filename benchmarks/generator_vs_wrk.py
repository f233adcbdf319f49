"""Load-generator cost: `meshlb bench` against wrk (HTTP/1.1) and h2load (HTTP/2).

Starts Debian's nginx in a temporary prefix (one worker, pinned to core 1) serving a 12-byte
body over plain HTTP/1.1 and over TLS with HTTP/2, then runs each generator pinned to core 0,
alternating A B A B. The figure that counts is the generator's CPU time per request:
user + system time of its process from /proc/PID/stat, divided by the requests nginx served
(its stub_status counter), both sampled over the same window after a warm-up. That makes the
number independent of the generators' own reporting. The ratio is the median of the ratios of
each round's adjacent pair, which cancels the slow drift of a shared machine's load.

    python benchmarks/generator_vs_wrk.py [--rounds 5] [--duration 8] [--warmup 2] [--only h1|h2]

The accuracy table (`--only rate`, also part of a full run) asks how much of the open model's
corrected latency is the generator's own lateness. It measures nginx's capacity with
wrk -t1 -c32 (closed model), then runs `meshlb bench --rate` at 10 %, 25 % and 50 % of it
with -c32 for `--duration` seconds after a `--warmup`, `--rounds` times each, and reports the
medians of corrected and uncorrected p50 and p99, of the send lag (actual minus intended send
time), and of the generator's CPU per request. `--root DIR` runs the generator from another
checkout (the code before a change, say); figures it does not report show as "-".

    python benchmarks/generator_vs_wrk.py --only rate [--rounds 3] [--duration 5] [--root DIR]

Needs nginx, wrk, h2load (nghttp2-client) and taskset; traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import free_port  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
BODY = "hello world\n"  # 12 bytes
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
GENERATOR_CORE, SERVER_CORE = "0", "1"
RATE_FRACTIONS = (0.10, 0.25, 0.50)
RATE_CONNECTIONS = 32

NGINX_CONF = """\
worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 10000000;
    keepalive_timeout 60s;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    server {{
        listen 127.0.0.1:{h1_port};
        location / {{ return 200 "{body}"; }}
        location = /nginx-status {{ stub_status; }}
    }}
    server {{
        listen 127.0.0.1:{h2_port} ssl {h2_listen};
        {h2_directive}
        ssl_certificate {prefix}/cert.pem;
        ssl_certificate_key {prefix}/key.pem;
        location / {{ return 200 "{body}"; }}
    }}
}}
"""


@dataclass(frozen=True)
class Contender:
    name: str
    protocol: str
    argv: list[str]


@dataclass(frozen=True)
class Sample:
    requests: int
    seconds: float
    cpu_s: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def us_per_request(self) -> float:
        return self.cpu_s / self.requests * 1e6


def nginx_version() -> tuple[int, int, int]:
    out = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr
    match = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", out)
    if match is None:
        raise SystemExit(f"cannot read the nginx version from {out!r}")
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def write_certificate(prefix: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    (prefix / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (prefix / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def start_nginx(prefix: Path, h1_port: int, h2_port: int) -> subprocess.Popen[bytes]:
    write_certificate(prefix)
    # "http2 on" arrived in nginx 1.25.1; older versions take it as a listen parameter.
    modern = nginx_version() >= (1, 25, 1)
    conf = NGINX_CONF.format(
        prefix=prefix,
        h1_port=h1_port,
        h2_port=h2_port,
        body=BODY,
        h2_listen="" if modern else "http2",
        h2_directive="http2 on;" if modern else "",
    )
    (prefix / "nginx.conf").write_text(conf)
    process = subprocess.Popen(
        [
            "taskset",
            "-c",
            SERVER_CORE,
            "nginx",
            "-p",
            str(prefix),
            "-c",
            str(prefix / "nginx.conf"),
            "-e",
            str(prefix / "error.log"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            nginx_requests(h1_port)
            return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit(f"nginx did not start: {(prefix / 'error.log').read_text()}")


def nginx_requests(port: int) -> int:
    """Requests nginx has served so far (each HTTP/2 stream counts as one)."""
    url = f"http://127.0.0.1:{port}/nginx-status"
    with urllib.request.urlopen(url, timeout=2) as response:
        text = response.read().decode()
    return int(text.splitlines()[2].split()[2])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After "pid (comm)", utime and stime are fields 14 and 15 of the whole line.
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def measure(contender: Contender, status_port: int, warmup: float, duration: float) -> Sample:
    process = subprocess.Popen(
        ["taskset", "-c", GENERATOR_CORE, *contender.argv],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        time.sleep(warmup)
        cpu0, served0, t0 = cpu_seconds(process.pid), nginx_requests(status_port), time.monotonic()
        time.sleep(duration)
        cpu1, served1, t1 = cpu_seconds(process.pid), nginx_requests(status_port), time.monotonic()
    finally:
        process.send_signal(signal.SIGINT)
        try:
            _, err = process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            _, err = process.communicate()
    requests = served1 - served0 - 1  # less our own status request
    if requests <= 0:
        raise SystemExit(f"{contender.name} served nothing: {err.decode()[-500:]}")
    return Sample(requests, t1 - t0, cpu1 - cpu0)


def contenders(h1_port: int, h2_port: int, run_s: int) -> list[tuple[Contender, Contender]]:
    bench = [sys.executable, "-m", "meshlb.bench", "--workers", "1", "-d", f"{run_s}s"]
    h1_url = f"http://127.0.0.1:{h1_port}/"
    h2_url = f"https://127.0.0.1:{h2_port}/"
    return [
        (
            Contender("wrk -t1 -c64", "HTTP/1.1", ["wrk", "-t1", "-c64", f"-d{run_s}s", h1_url]),
            Contender("meshlb bench -c64", "HTTP/1.1", [*bench, "-c", "64", h1_url]),
        ),
        (
            Contender(
                "h2load -c16 -m10",
                "HTTP/2 (TLS)",
                ["h2load", "-c16", "-m10", "-D", str(run_s), h2_url],
            ),
            Contender(
                "meshlb bench --http2 -c16 -m10",
                "HTTP/2 (TLS)",
                [*bench, "--http2", "--insecure", "-c", "16", "-m", "10", h2_url],
            ),
        ),
    ]


@dataclass(frozen=True)
class RateSample:
    doc: dict[str, object]
    us_per_request: float

    def ms(self, block: str, key: str) -> float | None:
        value = self.doc.get(block)
        return float(value[key]) if isinstance(value, dict) else None


def capacity(url: str, seconds: float) -> float:
    """nginx's requests/s with wrk -t1 -c32 on the other core (closed model)."""
    out = subprocess.run(
        ["taskset", "-c", GENERATOR_CORE, "wrk", "-t1", f"-c{RATE_CONNECTIONS}"]
        + [f"-d{max(1, round(seconds))}s", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if match is None:
        raise SystemExit(f"cannot read wrk's output: {out}")
    return float(match.group(1))


def measure_rate(root: Path, url: str, rate: float, warmup: float, duration: float) -> RateSample:
    argv = [sys.executable, "-m", "meshlb.bench", "--workers", "1", "--json"]
    argv += ["--rate", f"{rate:.0f}", "-c", str(RATE_CONNECTIONS)]
    argv += ["--warmup", f"{warmup}s", "-d", f"{duration}s", url]
    process = subprocess.Popen(
        ["taskset", "-c", GENERATOR_CORE, *argv],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        # CPU per request over the middle of the measurement: the rate is held, so the
        # requests sent in a window are the rate times its length.
        time.sleep(warmup + 1.0)
        cpu0, t0 = cpu_seconds(process.pid), time.monotonic()
        time.sleep(max(0.5, duration - 2.0))
        cpu1, t1 = cpu_seconds(process.pid), time.monotonic()
        out, _ = process.communicate(timeout=duration + 30)
    except BaseException:
        process.kill()
        raise
    return RateSample(json.loads(out), (cpu1 - cpu0) / (rate * (t1 - t0)) * 1e6)


def accuracy(url: str, root: Path, rounds: int, warmup: float, duration: float) -> None:
    full = capacity(url, duration)
    print(f"  nginx capacity (wrk -t1 -c{RATE_CONNECTIONS}): {full:,.0f} req/s", file=sys.stderr)
    rows = []
    for fraction in RATE_FRACTIONS:
        rate = full * fraction
        samples = []
        for round_number in range(rounds):
            sample = measure_rate(root, url, rate, warmup, duration)
            samples.append(sample)
            print(
                f"  round {round_number + 1}: --rate {rate:,.0f} corrected p50 "
                f"{sample.ms('latency_ms', 'p50')} uncorrected p50 "
                f"{sample.ms('latency_uncorrected_ms', 'p50')} send lag p99 "
                f"{sample.ms('send_lag_ms', 'p99')} ms",
                file=sys.stderr,
            )
        rows.append((fraction, rate, samples))
    print_accuracy(full, rows)


def _median_ms(samples: list[RateSample], block: str, key: str) -> str:
    values = [v for v in (s.ms(block, key) for s in samples) if v is not None]
    return f"{statistics.median(values):.3f}" if values else "-"


def print_accuracy(full: float, rows: list[tuple[float, float, list[RateSample]]]) -> None:
    print(f"nginx capacity: {full:,.0f} requests/s (wrk -t1 -c{RATE_CONNECTIONS})")
    print(
        "| --rate | corrected p50 / p99 (ms) | uncorrected p50 / p99 (ms) "
        "| send lag p50 / p99 (ms) | held | CPU µs/request |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for fraction, rate, samples in rows:
        held = [s.doc["sends_held"] for s in samples if "sends_held" in s.doc]
        us = statistics.median(s.us_per_request for s in samples)
        print(
            f"| {rate:,.0f}/s ({fraction:.0%}) "
            f"| {_median_ms(samples, 'latency_ms', 'p50')} / "
            f"{_median_ms(samples, 'latency_ms', 'p99')} "
            f"| {_median_ms(samples, 'latency_uncorrected_ms', 'p50')} / "
            f"{_median_ms(samples, 'latency_uncorrected_ms', 'p99')} "
            f"| {_median_ms(samples, 'send_lag_ms', 'p50')} / "
            f"{_median_ms(samples, 'send_lag_ms', 'p99')} "
            f"| {statistics.median(held) if held else '-'} | {us:.1f} |"  # type: ignore[type-var]
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="A B rounds per pair (default 5)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before sampling")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds sampled")
    parser.add_argument("--only", choices=["h1", "h2", "rate"], help="run one part only")
    parser.add_argument(
        "--root", type=Path, default=REPO, help="checkout to run meshlb bench from (rate table)"
    )
    args = parser.parse_args()
    tools = ["nginx", "wrk", "taskset"] + ([] if args.only in ("h1", "rate") else ["h2load"])
    for tool in tools:
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} not found (apt-get install nginx wrk nghttp2-client)")
    run_s = int(args.warmup + args.duration + 3)
    with tempfile.TemporaryDirectory(prefix="meshlb-genbench-") as tmp:
        prefix = Path(tmp)
        h1_port, h2_port = free_port(), free_port()
        nginx = start_nginx(prefix, h1_port, h2_port)
        rows: list[tuple[Contender, list[Sample], Contender]] = []
        try:
            pairs = contenders(h1_port, h2_port, run_s)
            if args.only:
                pairs = {"h1": [pairs[0]], "h2": [pairs[1]], "rate": []}[args.only]
            for peer, ours in pairs:
                samples: dict[str, list[Sample]] = {peer.name: [], ours.name: []}
                for round_number in range(args.rounds):
                    for contender in (peer, ours):
                        sample = measure(contender, h1_port, args.warmup, args.duration)
                        samples[contender.name].append(sample)
                        print(
                            f"  round {round_number + 1}: {contender.name:<32} "
                            f"{sample.rps:>10,.0f} req/s {sample.us_per_request:7.2f} us/req",
                            file=sys.stderr,
                        )
                rows.append((peer, samples[peer.name], peer))
                rows.append((ours, samples[ours.name], peer))
            if args.only in (None, "rate"):
                url = f"http://127.0.0.1:{h1_port}/"
                accuracy(url, args.root.resolve(), args.rounds, args.warmup, args.duration)
        finally:
            nginx.send_signal(signal.SIGQUIT)
            try:
                nginx.wait(timeout=5)
            except subprocess.TimeoutExpired:
                nginx.kill()
    if rows:
        print_table(rows)
    return 0


def print_table(rows: list[tuple[Contender, list[Sample], Contender]]) -> None:
    samples_of = {contender.name: samples for contender, samples, _ in rows}
    print("| protocol | generator (core 0) | requests/s | CPU µs/request | vs peer |")
    print("|---|---|---:|---:|---:|")
    for contender, samples, peer in rows:
        rps = statistics.median(s.rps for s in samples)
        us = statistics.median(s.us_per_request for s in samples)
        ratio = statistics.median(
            ours.us_per_request / theirs.us_per_request
            for ours, theirs in zip(samples, samples_of[peer.name], strict=True)
        )
        print(f"| {contender.protocol} | {contender.name} | {rps:,.0f} | {us:.2f} | {ratio:.2f}× |")


if __name__ == "__main__":
    sys.exit(main())
