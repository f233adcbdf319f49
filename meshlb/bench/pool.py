"""Running the workers: in this process for one, in forked processes for more.

Children report each finished second (for the live progress line) and then their result, as
msgpack messages over a pipe. Ctrl-C reaches the children directly from the terminal, and is
forwarded to them when only the parent got it (a plain `kill -INT`): each child stops, closes
its last row and sends what it has, so the summary covers the run so far.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Callable
from multiprocessing.connection import Connection as Pipe
from multiprocessing.connection import wait
from types import FrameType

from meshlb.bench.plan import WorkerPlan
from meshlb.bench.results import (
    DoneMessage,
    ErrorKind,
    ProgressMessage,
    SecondRow,
    WorkerResult,
    decode_message,
    encode_message,
)
from meshlb.bench.worker import run_worker

OnRow = Callable[[int, SecondRow], None]
_RESEND_INTERRUPT_S = 0.5


def run_workers(plans: list[WorkerPlan], on_row: OnRow) -> list[WorkerResult]:
    if len(plans) == 1:
        return [run_worker(plans[0], lambda row: on_row(0, row))]
    return _run_forked(plans, on_row)


def _child(plan: WorkerPlan, pipe: Pipe) -> None:
    def send_row(row: SecondRow) -> None:
        pipe.send_bytes(encode_message(ProgressMessage(plan.index, row)))

    try:
        result = run_worker(plan, send_row)
    except BaseException as exc:  # noqa: BLE001 - anything a child hits goes back as a message
        result = _failed(plan.index, f"worker {plan.index} failed: {type(exc).__name__}: {exc}")
    pipe.send_bytes(encode_message(DoneMessage(result)))
    pipe.close()


def _failed(index: int, message: str) -> WorkerResult:
    return WorkerResult(
        worker=index,
        duration_ns=0,
        rx_bytes=0,
        status={},
        errors=[0] * len(ErrorKind),
        rows=[],
        header_counts={},
        fatal=message,
    )


def _run_forked(plans: list[WorkerPlan], on_row: OnRow) -> list[WorkerResult]:
    context = multiprocessing.get_context("fork")
    running: dict[Pipe, tuple[int, multiprocessing.process.BaseProcess]] = {}
    for plan in plans:
        reader, writer = context.Pipe(duplex=False)
        process = context.Process(
            target=_child, args=(plan, writer), name=f"meshlb-bench-{plan.index}", daemon=True
        )
        process.start()
        writer.close()
        running[reader] = (plan.index, process)

    interrupted = False

    def forward_interrupt(signum: int, frame: FrameType | None) -> None:
        nonlocal interrupted
        interrupted = True
        for _, child in running.values():
            if child.pid is not None and child.is_alive():
                os.kill(child.pid, signal.SIGINT)

    results: dict[int, WorkerResult] = {}
    previous = signal.signal(signal.SIGINT, forward_interrupt)
    try:
        while running:
            ready = wait(list(running), timeout=_RESEND_INTERRUPT_S)
            if not ready and interrupted:
                # A child that was still starting may have missed the signal: repeat it.
                forward_interrupt(signal.SIGINT, None)
            for pipe in ready:
                assert isinstance(pipe, Pipe)
                index, child = running[pipe]
                try:
                    message = decode_message(pipe.recv_bytes())
                except EOFError:
                    child.join()
                    results[index] = _failed(
                        index, f"worker {index} exited with code {child.exitcode}"
                    )
                    del running[pipe]
                    continue
                if isinstance(message, ProgressMessage):
                    on_row(message.worker, message.row)
                elif isinstance(message, DoneMessage):
                    results[index] = message.result
                    del running[pipe]
                    pipe.close()
                    child.join()
    finally:
        signal.signal(signal.SIGINT, previous)
        for _, child in running.values():
            child.kill()
    return [results[index] for index in sorted(results)]
