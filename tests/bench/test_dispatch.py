"""Open-model dispatch, driven by a fake clock and fake slots."""

from __future__ import annotations

from meshlb.bench.dispatch import BACKLOG_RECHECK_NS, OpenDispatcher
from meshlb.bench.histogram import bucket_index, bucket_value, sparse_of
from meshlb.bench.recorder import Recorder
from meshlb.bench.schedule import RateSchedule

MS = 1_000_000
T0 = 100 * MS  # the schedules start here; slots are registered before, at 0


class FakeSlot:
    def __init__(self) -> None:
        self.sent: list[tuple[int, int]] = []  # (origin, now)
        self.busy = False
        self.alive = True

    def can_send(self) -> bool:
        return self.alive and not self.busy

    def send(self, origin_ns: int, now_ns: int) -> None:
        assert not self.busy
        self.busy = True
        self.sent.append((origin_ns, now_ns))


def dispatcher(
    rate: float = 1000, limit: int | None = None, finished: list[bool] | None = None
) -> OpenDispatcher:
    done = finished if finished is not None else []
    return OpenDispatcher(RateSchedule(rate, T0), limit, lambda: done.append(True), Recorder())


def test_a_tick_sends_the_due_requests_on_idle_slots() -> None:
    d = dispatcher(rate=1000)
    slots = [FakeSlot() for _ in range(3)]
    for slot in slots:
        d.slot_free(slot, 0)
    next_tick = d.tick(now_ns=T0 + 2 * MS)
    assert d.next_index == 3 and d.inflight == 3
    assert sorted(slot.sent[0][1] for slot in slots) == [T0 + 2 * MS] * 3
    assert next_tick == T0 + 3 * MS


def test_every_request_is_charged_from_its_intended_time_and_its_lateness_is_send_lag() -> None:
    d = dispatcher(rate=10_000)  # one request every 0.1 ms
    slots = [FakeSlot() for _ in range(20)]
    for slot in slots:
        d.slot_free(slot, 0)
    d.tick(now_ns=T0 + MS + 50_000)  # the tick ran late: 11 requests are due
    origins = sorted(origin for slot in slots for origin, _ in slot.sent)
    assert origins == [T0 + i * 100_000 for i in range(11)]
    lags = [bucket_value(i) for i, _ in sparse_of(d.recorder.send_lag)]
    assert lags == [bucket_value(bucket_index(1_050_000 - i * 100_000)) for i in range(10, -1, -1)]
    assert d.recorder.held == 0


def test_requests_held_for_lack_of_a_slot_are_charged_from_their_intended_time() -> None:
    d = dispatcher(rate=1000)
    slot = FakeSlot()
    d.slot_free(slot, 0)
    d.tick(now_ns=T0)  # request 0 goes out at once
    assert slot.sent == [(T0, T0)]
    d.tick(now_ns=T0 + 5 * MS)  # requests 1..5 are due; no free slot
    assert d.backlog(T0 + 5 * MS) == 5
    slot.busy = False
    d.complete(slot, now_ns=T0 + 7 * MS)
    assert slot.sent[-1] == (T0 + 1 * MS, T0 + 7 * MS)  # request 1 waited since 1 ms
    assert d.inflight == 1
    # Its wait was the server's doing (no free connection), not the generator's lateness.
    assert d.recorder.held == 1
    assert sum(d.recorder.send_lag) == 1  # request 0 only, sent on time
    assert d.recorder.send_lag[0] == 1


def test_a_request_taken_by_a_freed_slot_before_its_tick_is_charged_from_its_intended_time() -> (
    None
):
    d = dispatcher(rate=1000)
    first, second = FakeSlot(), FakeSlot()
    d.slot_free(second, 0)
    d.slot_free(first, 0)  # idle slots are a stack: the tick takes this one
    d.tick(now_ns=T0)
    first.busy = False
    d.complete(first, now_ns=T0 + MS + 300_000)  # request 1 is due; no tick has seen it yet
    assert first.sent[-1] == (T0 + MS, T0 + MS + 300_000)
    assert d.recorder.send_lag[bucket_index(300_000)] == 1
    assert second.sent == []


def test_the_next_tick_is_the_intended_time_of_the_first_request_not_yet_due() -> None:
    d = dispatcher(rate=1_000_000)  # one request every microsecond
    slots = [FakeSlot() for _ in range(2)]
    for slot in slots:
        d.slot_free(slot, 0)
    assert d.tick(now_ns=T0) == T0 + 1_000
    # Requests 1..4 are due and there is one slot: the rest are held, and the tick is for 5.
    assert d.tick(now_ns=T0 + 4_000) == T0 + 5_000
    assert d.recorder.held == 0  # counted when they go out


def test_with_only_held_requests_left_the_ticks_slow_down() -> None:
    d = dispatcher(rate=1000, limit=3)
    slot = FakeSlot()
    d.slot_free(slot, 0)
    assert d.tick(now_ns=T0 + 5 * MS) == T0 + 5 * MS + BACKLOG_RECHECK_NS


def test_the_run_finishes_when_the_limit_is_sent_and_answered() -> None:
    finished: list[bool] = []
    d = dispatcher(rate=1000, limit=2, finished=finished)
    slots = [FakeSlot(), FakeSlot()]
    for slot in slots:
        d.slot_free(slot, 0)
    assert d.tick(now_ns=T0 + MS) is None  # both sent: no more ticks
    slots[0].busy = False
    d.complete(slots[0], T0 + 2 * MS)
    assert not finished
    d.drop_slot()  # the other one ends with its connection
    assert finished == [True]


def test_stale_idle_entries_are_skipped() -> None:
    d = dispatcher(rate=1000)
    dead, alive = FakeSlot(), FakeSlot()
    d.slot_free(alive, 0)
    d.slot_free(dead, 0)
    dead.alive = False
    d.tick(now_ns=T0)
    assert alive.sent and not dead.sent


def test_a_failed_connect_loses_only_a_due_request() -> None:
    d = dispatcher(rate=1000, limit=3)
    assert d.connect_failed(now_ns=T0)  # request 0 was due
    assert not d.connect_failed(now_ns=T0)  # nothing else is due yet
    assert d.connect_failed(now_ns=T0 + 2 * MS)
    assert d.next_index == 2


def test_restart_starts_a_fresh_schedule_and_keeps_counting_what_is_in_flight() -> None:
    finished: list[bool] = []
    d = dispatcher(rate=1000, finished=finished)
    slot = FakeSlot()
    d.slot_free(slot, 0)
    d.tick(now_ns=T0)
    d.restart(RateSchedule(1000, T0 + 50 * MS), limit=3)
    assert (d.next_index, d.limit, d.inflight) == (0, 2, 1)
    slot.busy = False
    d.complete(slot, T0 + 50 * MS)  # the warm-up request ends; the new schedule's first goes
    assert slot.sent[-1] == (T0 + 50 * MS, T0 + 50 * MS)
    assert not finished


def test_repr_shows_progress() -> None:
    assert repr(dispatcher()).startswith("<OpenDispatcher next=0 inflight=0 idle=0")


def test_a_refused_request_is_sent_again_first_with_its_first_origin() -> None:
    finished: list[bool] = []
    d = dispatcher(rate=1000, limit=1, finished=finished)
    first, second = FakeSlot(), FakeSlot()
    d.slot_free(first, 0)
    d.tick(now_ns=T0)
    d.retry(origin_ns=T0)  # refused: its connection drains
    assert not finished
    d.slot_free(second, T0 + 4 * MS)
    assert second.sent == [(T0, T0 + 4 * MS)]
    second.busy = False
    d.complete(second, T0 + 5 * MS)
    assert finished == [True]
