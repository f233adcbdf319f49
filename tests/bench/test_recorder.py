"""A worker's live counters and its one-second rows."""

from __future__ import annotations

from meshlb.bench.histogram import bucket_index
from meshlb.bench.recorder import Recorder
from meshlb.bench.results import ErrorKind


def test_roll_moves_the_current_second_into_a_row_and_zeroes_in_place() -> None:
    recorder = Recorder()
    latency = recorder.latency
    latency[bucket_index(5000)] += 2
    recorder.error(ErrorKind.TIMEOUT)
    row = recorder.roll(second=1, elapsed_ns=1_000_000_000)
    assert row.latency == [(bucket_index(5000), 2)] and row.errors == 1
    assert recorder.latency is latency and sum(latency) == 0  # connections keep the list
    recorder.error(ErrorKind.RESET)
    assert recorder.roll(2, 2_000_000_000).errors == 1  # errors per second, not cumulative


def test_200s_are_the_responses_not_counted_under_another_code() -> None:
    recorder = Recorder()
    recorder.latency[bucket_index(1000)] += 4
    for code in (200, 200, 200, 503):
        recorder.count_status(code)
    recorder.roll(1, 10)
    assert recorder.status_counts() == {200: 3, 503: 1}


def test_result_keeps_only_codes_seen_and_every_row() -> None:
    recorder = Recorder()
    recorder.latency[bucket_index(1000)] += 4
    recorder.count_status(503)
    recorder.count_header("a")
    recorder.count_header("a")
    recorder.rx_bytes = 99
    recorder.roll(1, 10)
    result = recorder.result(worker=4, duration_ns=10, interrupted=True)
    assert result.status == {200: 3, 503: 1}
    assert result.header_counts == {"a": 2}
    assert (result.worker, result.rx_bytes, result.interrupted, len(result.rows)) == (
        4,
        99,
        True,
        1,
    )


def test_reset_forgets_the_warm_up() -> None:
    recorder = Recorder()
    recorder.count_status(404)
    recorder.error(ErrorKind.CONNECT)
    recorder.latency[300] += 1
    recorder.roll(1, 10)
    recorder.reset()
    result = recorder.result(0, 1, False)
    assert result.status == {} and result.errors == [0, 0, 0, 0] and result.rows == []
    assert recorder.roll(1, 10).errors == 0
