"""A worker's live counters, written by its connections and read once a second.

The connections keep direct references to `latency`, `latency_uncorrected` and `other_status`
and index them on every response; those lists are therefore zeroed in place, never replaced.

Responses with status 200 are not counted by code: they are all the recorded responses less
those of other codes. Counting them too would cost an int allocation per response (CPython
caches only small ints), which on the HTTP/1.1 path is a measurable share of the client's CPU.
"""

from __future__ import annotations

from meshlb.bench.histogram import new_counts, sparse_of
from meshlb.bench.results import ErrorKind, SecondRow, WorkerResult

STATUS_SLOTS = 1000  # llhttp accepts three-digit status codes only


class Recorder:
    __slots__ = (
        "latency",
        "latency_uncorrected",
        "send_lag",
        "held",
        "other_status",
        "errors",
        "rx_bytes",
        "header_counts",
        "rows",
        "_errors_at_roll",
        "_zero",
    )

    def __init__(self) -> None:
        self._zero = new_counts()
        self.latency = new_counts()  # bucket counts for the current second
        self.latency_uncorrected = new_counts()
        # Open model: how late each request left (see dispatch.py), and how many of them
        # waited for a free connection instead.
        self.send_lag = new_counts()
        self.held = 0
        self.other_status = [0] * STATUS_SLOTS  # responses per code, except 200
        self.errors = [0] * len(ErrorKind)
        self.rx_bytes = 0
        self.header_counts: dict[str, int] = {}
        self.rows: list[SecondRow] = []
        self._errors_at_roll = 0

    def __repr__(self) -> str:
        return f"<Recorder rows={len(self.rows)} current={sum(self.latency)} errors={self.errors}>"

    def error(self, kind: ErrorKind) -> None:
        self.errors[kind] += 1

    def count_header(self, value: str) -> None:
        self.header_counts[value] = self.header_counts.get(value, 0) + 1

    def roll(self, second: int, elapsed_ns: int) -> SecondRow:
        """Close the current second: move its counts into a row and start the next one."""
        errors = sum(self.errors)
        row = SecondRow(
            second=second,
            elapsed_ns=elapsed_ns,
            errors=errors - self._errors_at_roll,
            latency=sparse_of(self.latency),
            latency_uncorrected=sparse_of(self.latency_uncorrected),
            send_lag=sparse_of(self.send_lag),
            held=self.held,
        )
        self._errors_at_roll = errors
        self.latency[:] = self._zero
        self.latency_uncorrected[:] = self._zero
        self.send_lag[:] = self._zero
        self.held = 0
        self.rows.append(row)
        return row

    def reset(self) -> None:
        """Forget everything recorded so far (the end of the warm-up)."""
        self.latency[:] = self._zero
        self.latency_uncorrected[:] = self._zero
        self.send_lag[:] = self._zero
        self.held = 0
        self.other_status[:] = [0] * STATUS_SLOTS
        self.errors[:] = [0] * len(ErrorKind)
        self.rx_bytes = 0
        self.header_counts.clear()
        self.rows.clear()
        self._errors_at_roll = 0

    def count_status(self, code: int) -> None:
        """Count a response's status code (the hot paths inline this)."""
        if code != 200:
            self.other_status[code] += 1

    def status_counts(self) -> dict[int, int]:
        """Responses per status code, for everything rolled into rows so far."""
        counts = {code: n for code, n in enumerate(self.other_status) if n}
        responses = sum(count for row in self.rows for _, count in row.latency)
        if responses > sum(counts.values()):
            counts[200] = responses - sum(counts.values())
        return dict(sorted(counts.items()))

    def result(self, worker: int, duration_ns: int, interrupted: bool) -> WorkerResult:
        return WorkerResult(
            worker=worker,
            duration_ns=duration_ns,
            rx_bytes=self.rx_bytes,
            status=self.status_counts(),
            errors=list(self.errors),
            rows=list(self.rows),
            header_counts=dict(self.header_counts),
            interrupted=interrupted,
        )
