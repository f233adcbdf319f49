"""Open-model dispatch: hand each due request to a free connection slot.

Theory of operation. A slot is one request's worth of capacity: an idle HTTP/1.1 connection,
or one free stream of an HTTP/2 connection. A tick runs at each intended send time (the worker
wakes it with a nanosecond timer, see `pacing.py`) and sends the due requests on idle slots.
When a tick finds no idle slot, the due requests are *held*: they wait as a backlog, and a
slot that frees up takes the oldest one at once.

Every request's latency is measured from its intended send time (its `origin`), as wrk2 does
to correct for coordinated omission. How late it actually left is recorded apart, in one of
two ways, because the two have different culprits:

* a held request waited because every slot was busy: the server's doing, and exactly the stall
  the correction exists to measure. It is counted in `Recorder.held`;
* any other request's delay (actual minus intended send time) is the generator's own lateness:
  a wake-up that came late, or an event loop busy with responses. It goes into the
  `Recorder.send_lag` histogram, so that a report can say when the generator, not the server,
  made the corrected latency.

Nothing here does I/O or reads a clock: callers pass `now`, so tests drive it with fake time.
"""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Callable
from typing import Protocol

from meshlb.bench.histogram import bucket_index
from meshlb.bench.recorder import Recorder
from meshlb.bench.schedule import RateSchedule

BACKLOG_RECHECK_NS = 1_000_000  # how often to look again when only held requests remain


class Slot(Protocol):
    def can_send(self) -> bool: ...

    def send(self, origin_ns: int, now_ns: int) -> None: ...


class OpenDispatcher:
    def __init__(
        self,
        schedule: RateSchedule,
        limit: int | None,
        on_finished: Callable[[], None],
        recorder: Recorder,
    ) -> None:
        self.schedule = schedule
        self.recorder = recorder
        self.limit = sys.maxsize if limit is None else limit
        self.idle: list[Slot] = []
        self.next_index = 0  # the next request of the schedule to send
        self.inflight = 0
        self.finished = False
        self._held = 0  # requests below this index waited for a slot
        self._retries: deque[int] = deque()  # origins of requests to send again
        self._on_finished = on_finished

    def __repr__(self) -> str:
        return (
            f"<OpenDispatcher next={self.next_index} inflight={self.inflight} "
            f"idle={len(self.idle)} {self.schedule!r}>"
        )

    def restart(self, schedule: RateSchedule, limit: int | None) -> None:
        """Start a fresh schedule (after the warm-up); requests in flight still complete."""
        self.schedule = schedule
        self.limit = sys.maxsize if limit is None else max(0, limit - self.inflight)
        self.next_index = 0
        self._held = 0
        self._check_finished()

    def backlog(self, now_ns: int) -> int:
        return max(0, self._due(now_ns) - self.next_index)

    def tick(self, now_ns: int) -> int | None:
        """Send what is due on idle slots. Returns when the next tick should run (the intended
        time of the first request not yet due), or None when the schedule is exhausted."""
        due = self._due(now_ns)
        while self._retries:
            slot = self._take_idle()
            if slot is None:
                break
            self.inflight += 1
            slot.send(self._retries.popleft(), now_ns)
        while self.next_index < due and not self._retries:
            slot = self._take_idle()
            if slot is None:
                self._held = due
                break
            origin = self._origin(self.next_index, now_ns)
            self.next_index += 1
            self.inflight += 1
            slot.send(origin, now_ns)
        if self.next_index >= self.limit:
            return None
        # Held requests go out as slots free up; the next tick is for the first one not due.
        upcoming = max(self.next_index, due)
        if upcoming >= self.limit:
            return now_ns + BACKLOG_RECHECK_NS
        return self.schedule.intended_ns(upcoming)

    def slot_free(self, slot: Slot, now_ns: int) -> None:
        """A slot can take a request: the oldest waiting one, or it waits for the next tick."""
        if self._retries:
            self.inflight += 1
            slot.send(self._retries.popleft(), now_ns)
        elif self.next_index < self._due(now_ns):
            origin = self._origin(self.next_index, now_ns)
            self.next_index += 1
            self.inflight += 1
            slot.send(origin, now_ns)
        else:
            self.idle.append(slot)
            self._check_finished()

    def complete(self, slot: Slot, now_ns: int) -> None:
        """A response arrived on `slot`, which can take the next request."""
        self.inflight -= 1
        self.slot_free(slot, now_ns)

    def drop_slot(self) -> None:
        """A request in flight ended (in an error, or with a response on a connection that is
        closing) and its slot is gone with the connection."""
        self.inflight -= 1
        self._check_finished()

    def retry(self, origin_ns: int) -> None:
        """A request in flight was refused unprocessed (HTTP/2 GOAWAY or REFUSED_STREAM) and its
        slot is gone: send it again, first, still charged from its first origin."""
        self.inflight -= 1
        self._retries.append(origin_ns)

    def connect_failed(self, now_ns: int) -> bool:
        """A connection could not be opened: the oldest waiting request, if any, is lost with
        it. Returns whether one was (it then counts as a connect error)."""
        if self.next_index < self._due(now_ns):
            self.next_index += 1
            self._check_finished()
            return True
        return False

    def _origin(self, index: int, now_ns: int) -> int:
        """The intended send time of request `index`, sent now; records how late it is."""
        intended = self.schedule.intended_ns(index)
        if index < self._held:
            self.recorder.held += 1
        else:
            self.recorder.send_lag[bucket_index(now_ns - intended)] += 1
        return intended

    def _due(self, now_ns: int) -> int:
        due = self.schedule.due(now_ns)
        return due if due < self.limit else self.limit

    def _take_idle(self) -> Slot | None:
        idle = self.idle
        while idle:
            slot = idle.pop()
            # A slot whose connection closed (or whose stream was taken since) is stale.
            if slot.can_send():
                return slot
        return None

    def _check_finished(self) -> None:
        if (
            not self.finished
            and self.next_index >= self.limit
            and self.inflight == 0
            and not self._retries
        ):
            self.finished = True
            self._on_finished()
