"""The live progress line shown on a terminal, once per second."""

from __future__ import annotations

from typing import TextIO

from meshlb.bench.duration import format_duration
from meshlb.bench.histogram import merge_sparse, sparse_percentiles
from meshlb.bench.results import SecondRow

_CLEAR = "\r\x1b[2K"


class Progress:
    """Merges each second's rows from all workers; shows the second once all have reported.
    With `stream` None it only keeps totals (stdout is not a terminal)."""

    def __init__(self, workers: int, stream: TextIO | None) -> None:
        self._workers = workers
        self._stream = stream
        self._pending: dict[int, list[SecondRow]] = {}
        self._shown = False
        self.requests = 0
        self.errors = 0

    def __repr__(self) -> str:
        return f"<Progress requests={self.requests} errors={self.errors}>"

    def add(self, worker: int, row: SecondRow) -> None:
        rows = self._pending.setdefault(row.second, [])
        rows.append(row)
        if len(rows) == self._workers:
            del self._pending[row.second]
            self.show(rows)

    def show(self, rows: list[SecondRow]) -> None:
        latency = merge_sparse(row.latency for row in rows)
        requests = sum(count for _, count in latency)
        errors = sum(row.errors for row in rows)
        self.requests += requests
        self.errors += errors
        if self._stream is None:
            return
        elapsed = max(row.elapsed_ns for row in rows) / 1e9
        p99 = sparse_percentiles(latency, [99.0])[0] / 1e9
        line = (
            f"  {elapsed:6.1f}s  {requests:>9,} req/s  p99 {format_duration(p99):>9}  "
            f"errors {errors:,}  total {self.requests:,}"
        )
        self._stream.write(_CLEAR + line)
        self._stream.flush()
        self._shown = True

    def clear(self) -> None:
        if self._shown and self._stream is not None:
            self._stream.write(_CLEAR)
            self._stream.flush()
            self._shown = False
