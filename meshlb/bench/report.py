"""The results document (what --json writes) and the wrk-like text summary made from it.

The document is the single source of truth: the text summary and the HTML report are both
rendered from it, so the three never disagree.
"""

from __future__ import annotations

import json
from typing import Any

from meshlb.bench.duration import format_duration
from meshlb.bench.histogram import Histogram, bucket_bounds, sparse_percentiles
from meshlb.bench.options import BenchOptions
from meshlb.bench.summary import RunSummary

Document = dict[str, Any]

LATENCY_PERCENTILES = [
    ("p50", 50.0),
    ("p75", 75.0),
    ("p90", 90.0),
    ("p99", 99.0),
    ("p999", 99.9),
    ("p9999", 99.99),
]
_LABELS = {
    "p50": "p50",
    "p75": "p75",
    "p90": "p90",
    "p99": "p99",
    "p999": "p99.9",
    "p9999": "p99.99",
    "max": "max",
}
# A run whose send lag p99 exceeds this fraction of the server's own (uncorrected) p99 latency
# says more about the generator than about the server: the report warns.
SEND_LAG_WARN_FRACTION = 0.5
SPECTRUM_STEPS_PER_DECADE = 10
SPECTRUM_DECADES = 6  # up to the 99.9999th percentile


def _ms(ns: float) -> float:
    return round(ns / 1e6, 4)


def latency_block(hist: Histogram) -> dict[str, float]:
    values = hist.percentiles([pct for _, pct in LATENCY_PERCENTILES])
    block = {key: _ms(value) for (key, _), value in zip(LATENCY_PERCENTILES, values, strict=True)}
    block.update(
        max=_ms(hist.max), min=_ms(hist.min), mean=_ms(hist.mean()), stdev=_ms(hist.stdev())
    )
    return block


def spectrum_percentiles() -> list[float]:
    """Percentiles spaced evenly on a log scale of 1/(1 - p), as HdrHistogram plots them."""
    steps = SPECTRUM_STEPS_PER_DECADE * SPECTRUM_DECADES
    return [100.0 * (1.0 - 10.0 ** (-k / SPECTRUM_STEPS_PER_DECADE)) for k in range(steps + 1)]


def histogram_block(hist: Histogram) -> dict[str, Any]:
    pairs = hist.sparse()
    buckets = []
    for index, count in pairs:
        low, high = bucket_bounds(index)
        buckets.append([_ms(low), _ms(high), count])
    pcts = spectrum_percentiles()
    values = sparse_percentiles(pairs, pcts)
    total = sum(count for _, count in pairs)
    # Past the last whole request the percentiles only repeat the maximum.
    spectrum = [
        [round(pct, 5), _ms(value)]
        for pct, value in zip(pcts, values, strict=True)
        if (100.0 - pct) / 100.0 * total >= 1.0
    ]
    if total:
        spectrum.append([100.0, _ms(hist.max)])
    return {"unit": "ms", "buckets": buckets, "percentiles": spectrum}


def build_document(summary: RunSummary, options: BenchOptions) -> Document:
    duration = summary.duration_s
    open_model = summary.latency_uncorrected is not None
    doc: Document = {
        "url": options.target.url,
        "method": options.request.method,
        "protocol": "h2" if options.http2 else "http/1.1",
        "model": "open" if open_model else "closed",
        "connections": options.connections,
        "streams": options.streams if options.http2 else 1,
        "workers": summary.workers,
        "target_rate": options.rate,
        "requests": summary.requests,
        "duration_s": round(duration, 6),
        "rps": round(summary.requests / duration, 3) if duration > 0 else 0.0,
        "bytes": summary.rx_bytes,
        "transfer_bytes_per_s": round(summary.rx_bytes / duration, 1) if duration > 0 else 0.0,
        "latency_ms": latency_block(summary.latency),
        "status": {str(code): count for code, count in summary.status.items()},
        "non_2xx_3xx": sum(
            count for code, count in summary.status.items() if not 200 <= code < 400
        ),
        "errors": dict(summary.errors),
        "errors_total": summary.error_total,
        "timeseries": [
            {
                "second": s.second,
                "elapsed_s": round(s.elapsed_s, 3),
                "requests": s.requests,
                "errors": s.errors,
                "p50": _ms(s.p50_ns),
                "p99": _ms(s.p99_ns),
                **(
                    {"p99_uncorrected": _ms(s.p99_uncorrected_ns)}
                    if s.p99_uncorrected_ns is not None
                    else {}
                ),
            }
            for s in summary.seconds
        ],
        "histogram": histogram_block(summary.latency),
        "interrupted": summary.interrupted,
    }
    if summary.latency_uncorrected is not None:
        doc["latency_uncorrected_ms"] = latency_block(summary.latency_uncorrected)
        doc["histogram_uncorrected"] = histogram_block(summary.latency_uncorrected)
    if summary.send_lag is not None:
        doc["send_lag_ms"] = latency_block(summary.send_lag)
        doc["sends_held"] = summary.held
    if options.by_header is not None:
        doc["by_header"] = {
            "name": options.by_header.lower(),
            "counts": dict(summary.header_counts),
        }
    return doc


def to_json(doc: Document) -> str:
    return json.dumps(doc, indent=2) + "\n"


def format_bytes(count: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1024 or unit == "GB":
            return f"{count:.2f}{unit}" if unit != "B" else f"{count:.0f}B"
        count /= 1024
    raise AssertionError("unreachable")


def format_header(options: BenchOptions, workers: int) -> str:
    length = (
        f"{options.requests:,} requests"
        if options.requests is not None
        else format_duration(options.duration_s or 0.0)
    )
    protocol = f"HTTP/2, {options.streams} streams each" if options.http2 else "HTTP/1.1"
    model = (
        f"open model at {options.rate:g} requests/s" if options.rate is not None else "closed model"
    )
    return (
        f"Running {length} test @ {options.target.url}\n"
        f"  {workers} worker{'s' if workers != 1 else ''}, {options.connections} "
        f"connection{'s' if options.connections != 1 else ''} ({protocol}), {model}\n"
    )


def _latency_line(label: str, block: dict[str, float]) -> str:
    cells = "".join(f"{format_duration(block[key] / 1e3):>10}" for key in _LABELS)
    return f"    {label:<12}{cells}\n"


def send_lag_warning(doc: Document) -> str | None:
    """Why the run's corrected latency describes the generator more than the server, if it
    does: the generator's own send lag is a large share of the server's latency."""
    lag, server = doc.get("send_lag_ms"), doc.get("latency_uncorrected_ms")
    if lag is None or server is None or not doc["requests"]:
        return None
    if lag["p99"] <= SEND_LAG_WARN_FRACTION * server["p99"]:
        return None
    return (
        f"send lag p99 {format_duration(lag['p99'] / 1e3)} is over "
        f"{SEND_LAG_WARN_FRACTION:.0%} of the uncorrected p99 "
        f"{format_duration(server['p99'] / 1e3)}: the generator, not the server, "
        "made much of the corrected latency (give it more workers or cores, or a lower rate)"
    )


def _send_lag_line(doc: Document) -> str:
    lag = doc["send_lag_ms"]
    line = (
        f"    send lag p50 {format_duration(lag['p50'] / 1e3)} / "
        f"p99 {format_duration(lag['p99'] / 1e3)} (the generator's own lateness); "
        f"{doc['sends_held']:,} sent late for lack of a free connection\n"
    )
    warning = send_lag_warning(doc)
    if warning is not None:
        line += f"  Warning: {warning}\n"
    return line


def format_text(doc: Document) -> str:
    out: list[str] = []
    if doc["interrupted"]:
        out.append(f"  Interrupted: these figures cover the first {doc['duration_s']:.2f}s.\n")
    out.append("  Latency     " + "".join(f"{label:>10}" for label in _LABELS.values()) + "\n")
    if not doc["requests"]:
        out.append("    (no responses)\n")
    elif "latency_uncorrected_ms" in doc:
        out.append(_latency_line("corrected", doc["latency_ms"]))
        out.append(_latency_line("uncorrected", doc["latency_uncorrected_ms"]))
        out.append("    (corrected: from each request's intended send time)\n")
        out.append(_send_lag_line(doc))
    else:
        out.append(_latency_line("", doc["latency_ms"]))
    if doc["requests"]:
        mean, stdev = doc["latency_ms"]["mean"], doc["latency_ms"]["stdev"]
        out.append(
            f"    mean {format_duration(mean / 1e3)}, stdev {format_duration(stdev / 1e3)}\n"
        )
    out.append(
        f"  {doc['requests']:,} requests in {doc['duration_s']:.2f}s, "
        f"{format_bytes(doc['bytes'])} read\n"
    )
    status = ", ".join(f"{code}: {count:,}" for code, count in doc["status"].items())
    out.append(f"  Status codes: {status or 'none'}\n")
    if doc["non_2xx_3xx"]:
        out.append(f"  Non-2xx or 3xx responses: {doc['non_2xx_3xx']:,}\n")
    errors = ", ".join(f"{kind} {count:,}" for kind, count in doc["errors"].items())
    out.append(f"  Errors: {errors}\n")
    if "by_header" in doc:
        out.append(_by_header(doc))
    if doc["target_rate"] is not None:
        out.append(f"  Rate: target {doc['target_rate']:g}/s, achieved {doc['rps']:.2f}/s\n")
    out.append(f"Requests/sec: {doc['rps']:>12.2f}\n")
    out.append(f"Transfer/sec: {format_bytes(doc['transfer_bytes_per_s']):>12}\n")
    return "".join(out)


def _by_header(doc: Document) -> str:
    counts: dict[str, int] = doc["by_header"]["counts"]
    total = sum(counts.values())
    lines = [f"  Responses by {doc['by_header']['name']}:\n"]
    width = max((len(value) for value in counts), default=0)
    for value, count in counts.items():
        share = 100.0 * count / total if total else 0.0
        lines.append(f"    {value:<{width}}  {count:>10,}  {share:5.1f}%\n")
    if not counts:
        lines.append("    (no responses)\n")
    return "".join(lines)
