"""LineWriter: handing lines over never blocks; what cannot be written is dropped whole and
counted."""

from __future__ import annotations

import fcntl
import logging
import os
import select
import threading
import time
from collections.abc import Iterator

import pytest

from meshlb.linewriter import LineWriter, LineWriterHandler, process_log_dropped

F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)


class Pipe:
    """A pipe with 4 KiB of room in the kernel, whose reader reads only when told to."""

    def __init__(self) -> None:
        self.read_end, self.write_end = os.pipe()
        fcntl.fcntl(self.write_end, F_SETPIPE_SZ, 4096)
        self.open = {self.read_end, self.write_end}

    def close(self, fd: int) -> None:
        self.open.discard(fd)
        os.close(fd)

    def read_some(self) -> None:
        if select.select([self.read_end], [], [], 0.1)[0]:
            os.read(self.read_end, 65536)


@pytest.fixture
def pipe() -> Iterator[Pipe]:
    p = Pipe()
    yield p
    for fd in list(p.open):
        p.close(fd)


def read_all(fd: int, into: list[bytes]) -> threading.Thread:
    def run() -> None:
        with os.fdopen(fd, "rb", closefd=False) as reader:
            into.extend(reader)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_put_returns_at_once_on_a_full_pipe_and_counts_the_lines_it_drops(pipe) -> None:
    writer = LineWriter(pipe.write_end, 8192, name="test")
    started = time.monotonic()
    accepted = sum(writer.put(b"line %04d\n" % i + b"x" * 90 + b"\n") for i in range(1000))
    assert time.monotonic() - started < 0.5
    assert 0 < accepted < 1000
    assert writer.dropped == 2 * (1000 - accepted)
    lines: list[bytes] = []
    reader = read_all(pipe.read_end, lines)
    assert writer.wait_written(5.0)
    writer.close()
    pipe.close(pipe.write_end)
    reader.join(5)
    assert len(lines) == 2 * accepted  # every accepted line, whole
    numbers = [int(line.split()[1]) for line in lines if line.startswith(b"line")]
    assert numbers == sorted(numbers)


def test_output_resumes_once_the_reader_reads_again(pipe) -> None:
    writer = LineWriter(pipe.write_end, 4096, name="test")
    while writer.put(b"y" * 1023 + b"\n"):
        pass
    assert writer.dropped == 1
    deadline = time.monotonic() + 5
    while not writer.wait_written(0.01) and time.monotonic() < deadline:
        pipe.read_some()
    assert writer.put(b"after\n")
    writer.close()
    assert writer.dropped == 1


def test_lines_the_descriptor_refuses_are_counted(pipe) -> None:
    pipe.close(pipe.read_end)  # EPIPE from now on
    writer = LineWriter(pipe.write_end, 4096, name="test")
    assert writer.put(b"a\nb\n")
    assert writer.wait_written(5.0)
    assert writer.dropped == 2
    writer.close()


def test_close_writes_what_is_queued_and_closes_an_owned_descriptor(tmp_path) -> None:
    fd = os.open(tmp_path / "out.log", os.O_WRONLY | os.O_CREAT)
    writer = LineWriter(fd, 4096, name="test", owned=True)
    writer.put(b"one\n")
    writer.put(b"two\n")
    writer.close()
    assert (tmp_path / "out.log").read_bytes() == b"one\ntwo\n"
    with pytest.raises(OSError):
        os.fstat(fd)
    assert not writer.put(b"late\n") and writer.dropped == 1


def test_close_gives_up_on_a_reader_that_never_reads(pipe) -> None:
    writer = LineWriter(pipe.write_end, 1 << 20, name="test")
    writer.put(b"z" * 65535 + b"\n")
    started = time.monotonic()
    writer.close(timeout=0.2)
    assert time.monotonic() - started < 1.0


def test_the_log_handler_never_blocks_and_its_drops_are_the_process_count(pipe) -> None:
    handler = LineWriterHandler(LineWriter(pipe.write_end, 4096, name="test"))
    logger = logging.getLogger("meshlb.test_linewriter")
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        started = time.monotonic()
        for i in range(500):
            logger.warning("message %d %s", i, "w" * 100)
        assert time.monotonic() - started < 0.5
        assert handler.writer.dropped > 0
        assert process_log_dropped() == handler.writer.dropped
    finally:
        root.removeHandler(handler)
        lines: list[bytes] = []
        reader = read_all(pipe.read_end, lines)
        handler.close()
        pipe.close(pipe.write_end)
        reader.join(5)
    assert lines[0] == b"message 0 " + b"w" * 100 + b"\n"


def test_a_writer_given_up_on_writes_nothing_more_after_its_write_returns(pipe) -> None:
    """close() gave up on a blocked write; the owner then closes the descriptor, and its
    number goes to a new pipe. The thread's write returns (partly done) and must not go on
    into whatever the number names now."""
    writer = LineWriter(pipe.write_end, 1 << 20, name="test")
    writer.put(b"z" * 65535 + b"\n")
    writer.close(timeout=0.2)
    number = pipe.write_end
    pipe.close(pipe.read_end)  # the blocked write returns what it wrote, or EPIPE
    fresh = Pipe()
    os.dup2(fresh.write_end, number)  # the number now names the new pipe
    try:
        assert writer._thread is not None
        writer._thread.join(5)
        assert not writer._thread.is_alive()
        assert not select.select([fresh.read_end], [], [], 0.1)[0], "wrote into a reused number"
    finally:
        for fd in list(fresh.open):
            fresh.close(fd)
