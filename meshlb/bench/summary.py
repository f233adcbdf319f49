"""Merging the workers' results into one run: totals, one histogram, one time series."""

from __future__ import annotations

from dataclasses import dataclass, field

from meshlb.bench.histogram import Histogram, Sparse, merge_sparse, sparse_percentiles
from meshlb.bench.results import ERROR_NAMES, WorkerResult

_NS = 1e9
SECOND_PERCENTILES = [50.0, 99.0]


@dataclass(slots=True)
class SecondSummary:
    second: int
    elapsed_s: float
    requests: int
    errors: int
    p50_ns: int
    p99_ns: int
    p99_uncorrected_ns: int | None


@dataclass(slots=True)
class RunSummary:
    workers: int
    duration_s: float
    requests: int
    rx_bytes: int
    status: dict[int, int]
    errors: dict[str, int]
    latency: Histogram
    latency_uncorrected: Histogram | None  # rate mode only
    send_lag: Histogram | None  # rate mode only: the generator's own lateness
    held: int  # rate mode: requests that waited for a free connection
    seconds: list[SecondSummary]
    header_counts: dict[str, int]
    interrupted: bool
    fatal: list[str] = field(default_factory=list)

    @property
    def error_total(self) -> int:
        return sum(self.errors.values())


def summarize(results: list[WorkerResult], open_model: bool) -> RunSummary:
    latency = Histogram()
    uncorrected = Histogram() if open_model else None
    send_lag = Histogram() if open_model else None
    held = 0
    status: dict[int, int] = {}
    errors = dict.fromkeys(ERROR_NAMES, 0)
    headers: dict[str, int] = {}
    by_second: dict[int, list[tuple[float, int, Sparse, Sparse]]] = {}
    for result in results:
        for code, count in result.status.items():
            status[code] = status.get(code, 0) + count
        for name, count in zip(ERROR_NAMES, result.errors, strict=True):
            errors[name] += count
        for value, count in result.header_counts.items():
            headers[value] = headers.get(value, 0) + count
        for row in result.rows:
            latency.add_sparse(row.latency)
            if uncorrected is not None:
                uncorrected.add_sparse(row.latency_uncorrected)
            if send_lag is not None:
                send_lag.add_sparse(row.send_lag)
            held += row.held
            by_second.setdefault(row.second, []).append(
                (row.elapsed_ns / _NS, row.errors, row.latency, row.latency_uncorrected)
            )
    seconds = [_second(second, parts, open_model) for second, parts in sorted(by_second.items())]
    return RunSummary(
        workers=len(results),
        duration_s=max((r.duration_ns for r in results), default=0) / _NS,
        requests=latency.total,
        rx_bytes=sum(r.rx_bytes for r in results),
        status=dict(sorted(status.items())),
        errors=errors,
        latency=latency,
        latency_uncorrected=uncorrected,
        send_lag=send_lag,
        held=held,
        seconds=seconds,
        header_counts=dict(sorted(headers.items(), key=lambda kv: (-kv[1], kv[0]))),
        interrupted=any(r.interrupted for r in results),
        fatal=[r.fatal for r in results if r.fatal],
    )


def _second(
    second: int, parts: list[tuple[float, int, Sparse, Sparse]], open_model: bool
) -> SecondSummary:
    pairs = merge_sparse(part[2] for part in parts)
    p50, p99 = sparse_percentiles(pairs, SECOND_PERCENTILES)
    p99_uncorrected = None
    if open_model:
        p99_uncorrected = sparse_percentiles(merge_sparse(part[3] for part in parts), [99.0])[0]
    return SecondSummary(
        second=second,
        elapsed_s=max(part[0] for part in parts),
        requests=sum(count for _, count in pairs),
        errors=sum(part[1] for part in parts),
        p50_ns=p50,
        p99_ns=p99,
        p99_uncorrected_ns=p99_uncorrected,
    )
