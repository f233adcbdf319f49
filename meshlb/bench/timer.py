"""A one-shot timer with nanosecond resolution, for pacing the open model's sends.

The event loop's own timers (libuv's) count whole milliseconds from a clock cached once per
loop iteration, so a send planned for a given microsecond goes out up to a millisecond late.
On Linux this timer is a `timerfd` armed with an absolute CLOCK_MONOTONIC deadline (the
clock `time.perf_counter_ns` reads) and watched as a reader by the loop, so it wakes epoll
at the deadline itself. The thread's timer slack is lowered to 1 ns at the same time: the
kernel's default of 50 us would let every wake-up run that much late. Elsewhere it falls back
to the loop's timers, and `precise` says which one runs.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import os
from collections.abc import Callable

_NS = 1_000_000_000
_CLOCK_MONOTONIC = 1
_TFD_NONBLOCK = os.O_NONBLOCK
_TFD_CLOEXEC = os.O_CLOEXEC
_TFD_TIMER_ABSTIME = 1
_PR_SET_TIMERSLACK = 29


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        libc.timerfd_create  # noqa: B018 - absent outside Linux
    except (OSError, AttributeError):
        return None
    return libc


class PreciseTimer:
    """Calls `callback()` once at the deadline last given to `arm`; `arm` again to re-arm."""

    def __init__(self, loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
        self._loop = loop
        self._callback = callback
        self._handle: asyncio.TimerHandle | None = None
        self._fd = -1
        self._libc = _libc()
        if self._libc is not None:
            fd = self._libc.timerfd_create(_CLOCK_MONOTONIC, _TFD_NONBLOCK | _TFD_CLOEXEC)
            if fd >= 0:
                self._fd = fd
                self._spec = _Itimerspec()
                self._spec_ref = ctypes.byref(self._spec)
                self._settime = self._libc.timerfd_settime
                self._libc.prctl(_PR_SET_TIMERSLACK, 1, 0, 0, 0)
                loop.add_reader(fd, self._fired)

    def __repr__(self) -> str:
        kind = f"timerfd {self._fd}" if self.precise else "loop timer"
        return f"<PreciseTimer {kind}>"

    @property
    def precise(self) -> bool:
        return self._fd >= 0

    def arm(self, deadline_ns: int, now_ns: int) -> None:
        if self._fd >= 0:
            value = self._spec.it_value
            value.tv_sec, value.tv_nsec = divmod(max(deadline_ns, 1), _NS)
            self._settime(self._fd, _TFD_TIMER_ABSTIME, self._spec_ref, None)
            return
        if self._handle is not None:
            self._handle.cancel()
        self._handle = self._loop.call_later((deadline_ns - now_ns) / _NS, self._callback)

    def cancel(self) -> None:
        if self._fd >= 0:
            value = self._spec.it_value
            value.tv_sec = value.tv_nsec = 0  # a zero it_value disarms
            self._settime(self._fd, 0, self._spec_ref, None)
        elif self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def close(self) -> None:
        self.cancel()
        if self._fd >= 0:
            self._loop.remove_reader(self._fd)
            os.close(self._fd)
            self._fd = -1

    def _fired(self) -> None:
        try:
            os.read(self._fd, 8)
        except BlockingIOError:  # disarmed or re-armed after it expired
            return
        self._callback()
