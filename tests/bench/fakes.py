"""Stand-ins for the event loop and transports, so connections run without sockets."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from meshlb.bench.context import RunContext
from meshlb.bench.dispatch import OpenDispatcher
from meshlb.bench.recorder import Recorder


class FakeTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def take(self) -> bytes:
        data, self.writes = b"".join(self.writes), []
        return data

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def get_extra_info(self, name: str) -> Any:
        return None


class FakeHandle:
    def __init__(self, delay: float, callback: Callable[..., Any]) -> None:
        self.delay, self.callback, self.cancelled = delay, callback, False

    def cancel(self) -> None:
        self.cancelled = True


class FakeLoop:
    """Records what would be scheduled instead of running it."""

    def __init__(self) -> None:
        self.tasks = 0
        self.timers: list[FakeHandle] = []

    def create_task(self, coro: Coroutine[Any, Any, Any]) -> FakeHandle:
        coro.close()
        self.tasks += 1
        return FakeHandle(0.0, lambda: None)

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> FakeHandle:
        handle = FakeHandle(delay, callback)
        self.timers.append(handle)
        return handle


def make_context(
    by_header: bytes | None = None,
    dispatcher: OpenDispatcher | None = None,
    http2: bool = False,
    recorder: Recorder | None = None,
) -> tuple[RunContext, list[object], list[str]]:
    """A context on a fake loop; also returns the lists of idle reports and fatal errors."""
    idle: list[object] = []
    fatal: list[str] = []
    ctx = RunContext(
        loop=FakeLoop(),  # type: ignore[arg-type]
        address=("127.0.0.1", 1),
        ssl_context=None,
        server_hostname=None,
        http2=http2,
        connect_timeout_s=1.0,
        recorder=recorder if recorder is not None else Recorder(),
        by_header=by_header,
        dispatcher=dispatcher,
        on_idle=idle.append,
        on_fatal=fatal.append,
    )
    return ctx, idle, fatal


def status_counts(recorder: Recorder) -> dict[int, int]:
    """The status counts of everything recorded so far (closes the current second)."""
    recorder.roll(second=len(recorder.rows) + 1, elapsed_ns=0)
    return recorder.status_counts()
