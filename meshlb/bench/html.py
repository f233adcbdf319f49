"""The --html report: one self-contained file (inline SVG and CSS, no scripts or assets)."""

from __future__ import annotations

import math
from html import escape

from meshlb.bench.duration import format_duration
from meshlb.bench.report import Document, format_bytes, send_lag_warning
from meshlb.bench.svg import Chart, Series, render

_CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 800px; color: #222; }
h1 { font-size: 1.3em; } table { border-collapse: collapse; margin: 1em 0; }
td, th { padding: 2px 14px 2px 0; text-align: left; } .latency td { text-align: right; }
.chart text { font-size: 12px; fill: #333; } .chart .title { font-size: 14px; font-weight: 600; }
.chart .grid { stroke: #e4e4e4; } .chart .axis { stroke: #888; }
"""
_P50, _P99, _P99U, _RPS, _ERR = "#1f77b4", "#d62728", "#ff7f0e", "#2ca02c", "#8c564b"


def _x_of_percentile(pct: float) -> float:
    """Position of a percentile on the distribution chart: log10 of 1 / (1 - p)."""
    return math.log10(1.0 / max(1e-9, 1.0 - pct / 100.0))


def latency_over_time(doc: Document) -> Chart:
    rows = doc["timeseries"]
    series = [
        Series("p50", _P50, [(r["elapsed_s"], r["p50"]) for r in rows]),
        Series("p99", _P99, [(r["elapsed_s"], r["p99"]) for r in rows]),
    ]
    if rows and "p99_uncorrected" in rows[0]:
        series[1].name = "p99 corrected"
        series.append(
            Series(
                "p99 uncorrected",
                _P99U,
                [(r["elapsed_s"], r["p99_uncorrected"]) for r in rows],
                dashed=True,
            )
        )
    return Chart(
        "latency-over-time", "Latency over time", "seconds", "latency (ms)", series, x_min=0.0
    )


def _per_second(doc: Document, field: str) -> list[tuple[float, float]]:
    """(elapsed seconds, `field` per second) for each period of the time series."""
    points = []
    start = 0.0
    for row in doc["timeseries"]:
        span = max(row["elapsed_s"] - start, 1e-3)
        points.append((row["elapsed_s"], row[field] / span))
        start = row["elapsed_s"]
    return points


def requests_over_time(doc: Document) -> Chart:
    points = _per_second(doc, "requests")
    return Chart(
        "requests-over-time",
        "Requests per second",
        "seconds",
        "requests/s",
        [Series("requests/s", _RPS, points, bars=True)],
        x_min=0.0,
    )


def errors_over_time(doc: Document) -> Chart:
    points = _per_second(doc, "errors")
    return Chart(
        "errors-over-time",
        "Errors per second",
        "seconds",
        "errors/s",
        [Series("errors/s", _ERR, points, bars=True)],
        x_min=0.0,
    )


def percentile_distribution(doc: Document) -> Chart:
    def points(block: dict[str, object]) -> list[tuple[float, float]]:
        pairs = block["percentiles"]
        assert isinstance(pairs, list)
        # The last pair is the maximum at 100 %, which has no place on a log axis.
        return [(_x_of_percentile(pct), ms) for pct, ms in pairs if pct < 100.0]

    series = [Series("latency", _P99, points(doc["histogram"]))]
    if "histogram_uncorrected" in doc:
        series[0].name = "corrected"
        series.append(
            Series("uncorrected", _P99U, points(doc["histogram_uncorrected"]), dashed=True)
        )
    decades = max((math.ceil(x) for s in series for x, _ in s.points), default=2)
    ticks = [
        (float(d), f"{100.0 * (1 - 10.0**-d):.{max(0, d - 2)}f}%")
        for d in range(0, max(decades, 2) + 1)
    ]
    return Chart(
        "percentile-distribution",
        "Latency by percentile",
        "percentile",
        "latency (ms)",
        series,
        x_ticks=ticks,
    )


def _summary_table(doc: Document) -> str:
    rows = [
        ("URL", doc["url"]),
        ("Protocol", f"{doc['protocol']}, {doc['model']} model"),
        ("Connections", f"{doc['connections']} ({doc['workers']} workers)"),
        ("Requests", f"{doc['requests']:,} in {doc['duration_s']:.2f}s"),
        ("Requests/s", f"{doc['rps']:,.2f}"),
        ("Transfer/s", format_bytes(doc["transfer_bytes_per_s"])),
        ("Status", ", ".join(f"{code}: {n:,}" for code, n in doc["status"].items()) or "none"),
        ("Errors", ", ".join(f"{kind} {n:,}" for kind, n in doc["errors"].items())),
    ]
    body = "".join(f"<tr><th>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _latency_table(doc: Document) -> str:
    keys = ["p50", "p75", "p90", "p99", "p999", "p9999", "max"]
    labels = ["p50", "p75", "p90", "p99", "p99.9", "p99.99", "max"]
    head = "".join(f"<th>{label}</th>" for label in labels)
    blocks = [("latency", doc["latency_ms"])]
    if "latency_uncorrected_ms" in doc:
        blocks = [("corrected", doc["latency_ms"]), ("uncorrected", doc["latency_uncorrected_ms"])]
    if "send_lag_ms" in doc:
        blocks.append(("send lag", doc["send_lag_ms"]))
    body = "".join(
        f"<tr><th>{name}</th>"
        + "".join(f"<td>{format_duration(block[k] / 1e3)}</td>" for k in keys)
        + "</tr>"
        for name, block in blocks
    )
    table = f'<table class="latency"><tr><th></th>{head}</tr>{body}</table>'
    if "send_lag_ms" in doc:
        table += (
            "<p>Corrected latency counts from each request's intended send time. Send lag is "
            "the generator's own lateness (actual minus intended send time); "
            f"{doc['sends_held']:,} requests were sent late for lack of a free connection "
            "instead, which is the server's doing.</p>"
        )
        warning = send_lag_warning(doc)
        if warning is not None:
            table += f'<p class="warning"><strong>Warning:</strong> {escape(warning)}</p>'
    return table


def _by_header_table(doc: Document) -> str:
    if "by_header" not in doc:
        return ""
    counts: dict[str, int] = doc["by_header"]["counts"]
    total = sum(counts.values())
    rows = "".join(
        f"<tr><th>{escape(value)}</th><td>{count:,}</td>"
        f"<td>{100.0 * count / total if total else 0.0:.1f}%</td></tr>"
        for value, count in counts.items()
    )
    if not counts:
        rows = '<tr><td colspan="3">(no responses)</td></tr>'
    name = escape(doc["by_header"]["name"])
    return f'<h2>Responses by {name}</h2><table class="latency">{rows}</table>'


def render_html(doc: Document) -> str:
    charts = [latency_over_time(doc), requests_over_time(doc)]
    if any(row["errors"] for row in doc["timeseries"]):
        charts.append(errors_over_time(doc))
    charts.append(percentile_distribution(doc))
    title = f"meshlb bench: {doc['url']}"
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>",
            f"<h1>{escape(title)}</h1>",
            _summary_table(doc),
            _latency_table(doc),
            _by_header_table(doc),
            *(f"<figure>{render(chart)}</figure>" for chart in charts),
            "</body></html>",
            "",
        ]
    )
