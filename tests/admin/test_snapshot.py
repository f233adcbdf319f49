"""Merging the snapshots of several workers sums their counters."""

from __future__ import annotations

from meshlb.admin.snapshot import MetricsSnapshot, merge


def test_dropped_log_lines_of_every_worker_are_summed() -> None:
    merged = merge(
        [
            MetricsSnapshot(taken_at=1.0, log_lines_dropped={"access": 3, "meshlb": 0}),
            MetricsSnapshot(taken_at=2.0, log_lines_dropped={"access": 4, "meshlb": 1}),
        ]
    )
    assert merged.log_lines_dropped == {"access": 7, "meshlb": 1}
