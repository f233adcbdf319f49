"""The live progress line."""

from __future__ import annotations

import io

from meshlb.bench.progress import Progress
from tests.bench.results_factory import row


def test_a_second_shows_once_every_worker_has_reported_it() -> None:
    out = io.StringIO()
    progress = Progress(workers=2, stream=out)
    progress.add(0, row(1, [1.0] * 300))
    assert out.getvalue() == ""
    progress.add(1, row(1, [2.0] * 200, errors=3))
    line = out.getvalue()
    assert line.startswith("\r\x1b[2K") and "\n" not in line
    assert "500 req/s" in line and "errors 3" in line
    assert line.split("p99")[1].split()[0] == "2.00ms"
    progress.clear()
    assert out.getvalue().endswith("\r\x1b[2K")


def test_without_a_terminal_it_only_counts() -> None:
    progress = Progress(workers=1, stream=None)
    progress.add(0, row(1, [1.0] * 7, errors=1))
    progress.clear()
    assert (progress.requests, progress.errors) == (7, 1)
