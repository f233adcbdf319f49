"""One worker: one event loop driving a share of the connections, from start to result.

The run has two phases. An optional warm-up opens the connections and sends load that is not
recorded; the measurement then starts from zero counters (connections stay open). In the open
model the schedule starts only once every connection has been tried, so that the first
requests are not charged for the time it takes to connect; the closed model starts at once,
as wrk does (a connection's first request is timed from when it is sent). During the
measurement a timer closes each one-second row of the time series and another checks request
timeouts a few times per timeout period; neither runs per request. In the open model a
nanosecond timer (`timer.py`) wakes the worker for each send, shortly before it is due, and
the pacer (`pacing.py`) spins the rest of the way, so that requests leave on time.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from time import perf_counter_ns

import uvloop

from meshlb.bench.connection import Connection
from meshlb.bench.context import UNLIMITED, RunContext
from meshlb.bench.dispatch import OpenDispatcher
from meshlb.bench.h1 import H1Connection
from meshlb.bench.h2 import H2Connection
from meshlb.bench.pacing import Pacer
from meshlb.bench.plan import WorkerPlan
from meshlb.bench.recorder import Recorder
from meshlb.bench.results import SecondRow, WorkerResult
from meshlb.bench.schedule import RateSchedule
from meshlb.bench.timer import PreciseTimer
from meshlb.bench.tls import client_context

_NS = 1_000_000_000
NEVER = 2**62  # a start time no clock reading reaches


class Worker:
    def __init__(self, plan: WorkerPlan, on_row: Callable[[SecondRow], None] | None = None) -> None:
        self.plan = plan
        self.recorder = Recorder()
        self.connections: list[Connection] = []
        self.interrupted = False
        self.fatal: str | None = None
        self._on_row = on_row
        self._loop: asyncio.AbstractEventLoop | None = None
        self._done: asyncio.Future[None] | None = None
        self._ctx: RunContext | None = None
        self._dispatcher: OpenDispatcher | None = None
        self._pacer = Pacer()
        self._tick_timer: PreciseTimer | None = None
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._start_ns = 0
        self._end_ns = 0
        self._second = 1
        self._idle = 0
        self._settled = 0

    def __repr__(self) -> str:
        return (
            f"<Worker #{self.plan.index} connections={len(self.connections)} "
            f"second={self._second} interrupted={self.interrupted}>"
        )

    async def run(self) -> WorkerResult:
        plan = self.plan
        loop = self._loop = asyncio.get_running_loop()
        self._done = loop.create_future()
        self._start_ns = perf_counter_ns()
        if plan.rate is not None:
            # Nothing is due until _start restarts it with a real start time.
            never = RateSchedule(plan.rate, NEVER)
            self._dispatcher = OpenDispatcher(never, None, self._finish, self.recorder)
            self._tick_timer = PreciseTimer(loop, self._tick)
        self._ctx = RunContext(
            loop=loop,
            address=plan.address,
            ssl_context=client_context(plan.http2, plan.insecure) if plan.tls else None,
            server_hostname=plan.server_hostname,
            http2=plan.http2,
            connect_timeout_s=plan.timeout_s,
            recorder=self.recorder,
            by_header=plan.by_header.lower().encode("latin-1") if plan.by_header else None,
            dispatcher=self._dispatcher,
            on_idle=self._connection_idle,
            on_fatal=self._fatal,
        )
        self._ctx.budgeted = plan.requests is not None
        self._ctx.on_settled = self._connection_settled
        if self._dispatcher is None:
            self._start()
        self.connections = [self._connection(i) for i in range(plan.connections)]
        for connection in self.connections:
            connection.open()
        self._sweep()
        await self._done
        return self._result(self._end_ns)

    def _result(self, end_ns: int) -> WorkerResult:
        result = self.recorder.result(self.plan.index, end_ns - self._start_ns, self.interrupted)
        result.fatal = self.fatal
        return result

    def interrupt(self) -> None:
        self.interrupted = True
        self._finish()

    def _connection(self, number: int) -> Connection:
        plan, ctx = self.plan, self._ctx
        assert ctx is not None
        if plan.http2:
            return H2Connection(ctx, number, plan.h2_headers, plan.body, plan.streams)
        return H1Connection(ctx, number, plan.request_bytes, plan.head)

    def _connection_settled(self, connection: Connection) -> None:
        self._settled += 1
        if self._settled == len(self.connections) and self._dispatcher is not None:
            self._start()

    def _start(self) -> None:
        """Start the warm-up, or the measurement when there is none."""
        plan, loop = self.plan, self._loop
        assert loop is not None
        if plan.warmup_s <= 0:
            self._begin_measurement(first=True)
            return
        self._timers["warmup"] = loop.call_later(plan.warmup_s, self._begin_measurement)
        if self._dispatcher is not None:
            self._restart_schedule(limit=None)

    def _restart_schedule(self, limit: int | None) -> None:
        assert self._dispatcher is not None and self.plan.rate is not None
        now = perf_counter_ns()
        self._dispatcher.restart(RateSchedule(self.plan.rate, now), limit)
        assert self._tick_timer is not None
        self._tick_timer.cancel()
        self._tick()

    def _begin_measurement(self, first: bool = False) -> None:
        plan, ctx, loop = self.plan, self._ctx, self._loop
        assert ctx is not None and loop is not None
        self._start_ns = perf_counter_ns()
        if not first:
            self.recorder.reset()
            for connection in self.connections:
                connection.rx_bytes = 0
        if self._dispatcher is not None:
            # Requests in flight now complete inside the measurement and count in it.
            self._restart_schedule(limit=plan.requests)
        elif plan.requests is None:
            ctx.remaining = UNLIMITED
        else:
            inflight = sum(connection.inflight() for connection in self.connections)
            ctx.remaining = max(0, plan.requests - inflight)
        if plan.duration_s is not None:
            self._timers["deadline"] = loop.call_later(plan.duration_s, self._finish)
        self._second = 1
        self._schedule_roll()

    def _schedule_roll(self) -> None:
        boundary = self._start_ns + self._second * _NS
        duration = self.plan.duration_s
        if duration is not None and self._second >= duration:
            return  # the deadline closes the last row
        assert self._loop is not None
        delay = (boundary - perf_counter_ns()) / _NS
        self._timers["roll"] = self._loop.call_later(max(0.0, delay), self._roll)

    def _roll(self) -> None:
        row = self.recorder.roll(self._second, perf_counter_ns() - self._start_ns)
        self._second += 1
        if self._on_row is not None:
            self._on_row(row)
        self._schedule_roll()

    def _sweep(self) -> None:
        ctx, loop = self._ctx, self._loop
        assert ctx is not None and loop is not None
        if ctx.stopping:
            return
        now = perf_counter_ns()
        timeout_ns = int(self.plan.timeout_s * _NS)
        for connection in self.connections:
            connection.check_timeout(now, timeout_ns)
        interval = min(max(self.plan.timeout_s / 10, 0.01), 0.25)
        self._timers["sweep"] = loop.call_later(interval, self._sweep)

    def _tick(self) -> None:
        ctx, dispatcher, timer = self._ctx, self._dispatcher, self._tick_timer
        assert ctx is not None and dispatcher is not None and timer is not None
        if not ctx.stopping:
            self._pacer.tick(dispatcher, perf_counter_ns, timer.arm)

    def _connection_idle(self, connection: Connection) -> None:
        self._idle += 1
        ctx = self._ctx
        assert ctx is not None
        if self._idle == len(self.connections) and ctx.remaining == 0:
            self._finish()

    def _fatal(self, message: str) -> None:
        if self.fatal is None:
            self.fatal = message
        self._finish()

    def _cancel(self, name: str) -> None:
        timer = self._timers.pop(name, None)
        if timer is not None:
            timer.cancel()

    def _finish(self) -> None:
        """Stop now: close the last row and every connection; what is in flight is dropped."""
        done, ctx = self._done, self._ctx
        if done is None or done.done() or ctx is None:
            return
        self._end_ns = perf_counter_ns()
        ctx.stopping = True
        self.recorder.rx_bytes = sum(connection.rx_bytes for connection in self.connections)
        if self._end_ns > self._start_ns:
            self.recorder.roll(self._second, self._end_ns - self._start_ns)
        for name in list(self._timers):
            self._cancel(name)
        if self._tick_timer is not None:
            self._tick_timer.close()
        for connection in self.connections:
            connection.close()
        done.set_result(None)


def run_worker(
    plan: WorkerPlan, on_row: Callable[[SecondRow], None] | None = None, handle_sigint: bool = True
) -> WorkerResult:
    """Run one worker on a fresh uvloop event loop in this thread."""
    loop = uvloop.new_event_loop()
    worker = Worker(plan, on_row)
    try:
        if handle_sigint:
            loop.add_signal_handler(signal.SIGINT, worker.interrupt)
        return loop.run_until_complete(worker.run())
    finally:
        if handle_sigint:
            loop.remove_signal_handler(signal.SIGINT)
        _shut_down(loop)


def _shut_down(loop: asyncio.AbstractEventLoop) -> None:
    pending = asyncio.all_tasks(loop)
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.run_until_complete(asyncio.sleep(0))  # let aborted transports call connection_lost
    loop.close()
