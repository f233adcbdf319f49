"""The worker-to-parent wire format."""

from __future__ import annotations

from meshlb.bench.results import (
    ERROR_NAMES,
    DoneMessage,
    ProgressMessage,
    SecondRow,
    WorkerResult,
    decode_message,
    encode_message,
)


def test_messages_survive_msgpack() -> None:
    row = SecondRow(
        second=1, elapsed_ns=1_000_000_000, errors=2, latency=[(300, 5)], latency_uncorrected=[]
    )
    result = WorkerResult(
        worker=1,
        duration_ns=5,
        rx_bytes=10,
        status={200: 5},
        errors=[0, 1, 1, 0],
        rows=[row],
        header_counts={"a": 5},
        interrupted=True,
        fatal=None,
    )
    assert decode_message(encode_message(ProgressMessage(1, row))) == ProgressMessage(1, row)
    assert decode_message(encode_message(DoneMessage(result))) == DoneMessage(result)


def test_error_names_follow_the_kinds() -> None:
    assert ERROR_NAMES == ("connect", "timeout", "reset", "protocol")
