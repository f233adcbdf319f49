"""Log output that never blocks the event loop: whole lines handed to a writer thread.

A write to a pipe blocks once the pipe is full, and a pipe fills when its reader stops
reading (a stalled log shipper, `meshlb run | less` left on one screen). Done on the event
loop, that write would stop the data path and the admin API with it. So the loop only hands
chunks of whole lines to a `LineWriter`, under a lock and without a system call, and one
thread per writer does the blocking `os.write`. While more than `capacity` bytes wait, new
chunks are dropped whole and their lines counted in `dropped`; output resumes by itself when
the reader does.

Why a thread rather than O_NONBLOCK on the descriptor: the file description behind stdout or
stderr is shared with the parent shell and with the other worker processes, and the flag
would change it for all of them (a shell that finds its terminal non-blocking misbehaves).
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import threading
from collections import deque

ACCESS_LOG_CAPACITY = 1 << 20  # bytes waiting for the writer before lines are dropped
PROCESS_LOG_CAPACITY = 256 << 10


class LineWriter:
    """Writes chunks of whole lines to `fd` from its own thread; `put` never blocks."""

    def __init__(self, fd: int, capacity: int, *, name: str, owned: bool = False) -> None:
        self.fd = fd
        self.capacity = capacity
        self.name = name
        self._owned = owned  # close `fd` on `close`
        self._cond = threading.Condition(threading.Lock())
        self._chunks: deque[bytes] = deque()
        self._queued = 0  # bytes handed over and not yet written, guarded by _cond
        self._closing = False
        self._abandoned = False  # close() gave up waiting: the thread writes no more
        self._thread: threading.Thread | None = None
        self._refused = 0  # lines `put` dropped: written by callers only
        self._failed = 0  # lines the descriptor refused (EPIPE...): written by the thread only

    @property
    def dropped(self) -> int:
        """Lines that were never written: refused while the buffer was full, or lost to an
        error of the descriptor."""
        return self._refused + self._failed

    def put(self, chunk: bytes) -> bool:
        """Queue `chunk` (whole lines) for writing; False when it was dropped."""
        with self._cond:
            if self._closing or self._queued + len(chunk) > self.capacity:
                self._refused += chunk.count(b"\n")
                return False
            self._chunks.append(chunk)
            self._queued += len(chunk)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()
            else:
                self._cond.notify()
        return True

    def wait_written(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for everything queued to be written."""
        with self._cond:
            return self._cond.wait_for(lambda: self._queued == 0, timeout)

    def close(self, timeout: float = 1.0) -> None:
        """Write what is queued, waiting at most `timeout` seconds for a stalled reader."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                # Still blocked: the descriptor stays open for it, and once that write
                # returns the thread writes nothing more (the owner may close the number).
                self._abandoned = True
                return
        if self._owned:
            with contextlib.suppress(OSError):
                os.close(self.fd)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._chunks and not self._closing:
                    self._cond.wait()
                if not self._chunks:
                    return
                data = b"".join(self._chunks)
                self._chunks.clear()
            self._write(data)
            with self._cond:
                self._queued -= len(data)
                self._cond.notify_all()

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            if self._abandoned:
                self._failed += bytes(view).count(b"\n")
                return
            try:
                view = view[os.write(self.fd, view) :]
            except BlockingIOError:
                # Someone made the shared description non-blocking: wait here, not spin.
                select.select([], [self.fd], [], 1.0)
            except InterruptedError:
                continue
            except OSError:
                self._failed += bytes(view).count(b"\n")
                return

    def __repr__(self) -> str:
        return (
            f"<LineWriter {self.name} fd={self.fd} queued={self._queued}/{self.capacity} "
            f"dropped={self.dropped}>"
        )


class LineWriterHandler(logging.Handler):
    """A `logging` handler that formats a record and hands it to a `LineWriter`."""

    def __init__(self, writer: LineWriter) -> None:
        super().__init__()
        self.writer = writer

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        self.writer.put(line.encode("utf-8", "backslashreplace") + b"\n")

    def close(self) -> None:
        self.writer.close()
        super().close()


def stderr_handler() -> LineWriterHandler:
    """The handler for meshlb's own log, on standard error."""
    return LineWriterHandler(LineWriter(2, PROCESS_LOG_CAPACITY, name="meshlb-log-writer"))


def process_log_dropped() -> int:
    """Lines of meshlb's own log dropped by this process (0 when logging goes elsewhere)."""
    return sum(
        h.writer.dropped for h in logging.getLogger().handlers if isinstance(h, LineWriterHandler)
    )
