"""Worker results built by hand, for the summary and report tests."""

from __future__ import annotations

from meshlb.bench.histogram import Histogram
from meshlb.bench.results import SecondRow, WorkerResult

NS = 1_000_000_000


def row(
    second: int,
    latencies_ms: list[float],
    errors: int = 0,
    uncorrected_ms: list[float] | None = None,
    send_lag_ms: list[float] | None = None,
    held: int = 0,
) -> SecondRow:
    hist, hist_u, hist_lag = Histogram(), Histogram(), Histogram()
    for ms in send_lag_ms or []:
        hist_lag.record(int(ms * 1e6))
    for ms in latencies_ms:
        hist.record(int(ms * 1e6))
    for ms in uncorrected_ms or []:
        hist_u.record(int(ms * 1e6))
    return SecondRow(
        second=second,
        elapsed_ns=second * NS,
        errors=errors,
        latency=hist.sparse(),
        latency_uncorrected=hist_u.sparse(),
        send_lag=hist_lag.sparse(),
        held=held,
    )


def result(
    worker: int,
    rows: list[SecondRow],
    status: dict[int, int] | None = None,
    errors: list[int] | None = None,
    headers: dict[str, int] | None = None,
    rx_bytes: int = 1000,
    interrupted: bool = False,
) -> WorkerResult:
    requests = sum(count for r in rows for _, count in r.latency)
    return WorkerResult(
        worker=worker,
        duration_ns=len(rows) * NS,
        rx_bytes=rx_bytes,
        status=status if status is not None else {200: requests},
        errors=errors or [0, 0, 0, 0],
        rows=rows,
        header_counts=headers or {},
        interrupted=interrupted,
    )
