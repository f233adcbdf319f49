"""Accepting that pauses while the process is out of file descriptors.

uvloop accepts in libuv, which meets EMFILE/ENFILE with its "emfile trick": it closes a
descriptor kept in reserve, accepts every pending connection and closes each at once. The
listener neither spins nor logs, but every client that arrives while descriptors are short
is dropped unanswered. Accepting in Python instead would cost about 25 µs per connection
(measured against the native path), so the native path stays and `Acceptor` keeps it out of
the shortage:

    state      every                  on                        then
    accepting  TICK: probe 1 free fd  none free (EMFILE/ENFILE) close the native server:
                                                                paused for `delay`
    paused     end of `delay`: probe  RESUME_HEADROOM free      serve again: accepting
               RESUME_HEADROOM fds    fewer                     paused for 2 x delay

Pausing closes uvloop's server but not the listening socket (the server was given a dup of
it), so the kernel goes on completing handshakes into the backlog: clients wait there for a
moment instead of being accepted and dropped. `delay` starts at MIN_PAUSE, doubles while the
shortage lasts or comes back within MAX_PAUSE of a resume, and never exceeds MAX_PAUSE.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import socket
from collections.abc import Callable

from meshlb.errors import is_local_resource_error

log = logging.getLogger("meshlb")

TICK = 0.1  # seconds between probes while accepting
MIN_PAUSE = 0.1
MAX_PAUSE = 1.0
RESUME_HEADROOM = 8  # free descriptors wanted before accepting again


def free_descriptors(fd: int, wanted: int) -> int:
    """How many more descriptors this process could open, counted up to `wanted`."""
    dups: list[int] = []
    try:
        for _ in range(wanted):
            dups.append(os.dup(fd))
    except OSError as exc:
        if not is_local_resource_error(exc):
            raise
    finally:
        for dup in dups:
            os.close(dup)
    return len(dups)


class PauseClock:
    """How long each pause lasts (a pure class: it takes `now`)."""

    __slots__ = ("delay", "resumed_at", "pauses")

    def __init__(self) -> None:
        self.delay = MIN_PAUSE
        self.resumed_at = -math.inf
        self.pauses = 0

    def pause(self, now: float) -> float:
        """Descriptors ran out while accepting: seconds until the next resume attempt."""
        self.pauses += 1
        recent = now - self.resumed_at < MAX_PAUSE
        self.delay = min(self.delay * 2, MAX_PAUSE) if recent else MIN_PAUSE
        return self.delay

    def still_short(self) -> float:
        """A resume attempt found too few descriptors: seconds until the next one."""
        self.delay = min(self.delay * 2, MAX_PAUSE)
        return self.delay

    def resumed(self, now: float) -> None:
        self.resumed_at = now


class Acceptor:
    """One listening socket, served by uvloop's native accept except while paused.

    Quacks like the `asyncio.Server` it wraps where the app needs it: `sockets`, `close`."""

    def __init__(
        self,
        sock: socket.socket,
        factory: Callable[[], asyncio.Protocol],
        name: str,
        *,
        backlog: int = 1024,
    ) -> None:
        self.sock = sock
        self.factory = factory
        self.name = name
        self.backlog = backlog
        self.clock = PauseClock()
        self._loop = asyncio.get_running_loop()
        self._native: asyncio.AbstractServer | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._resuming: asyncio.Future[None] | None = None
        self._paused_at = 0.0
        self._closed = False

    async def start(self) -> None:
        self._native = await self._serve()
        self._timer = self._loop.call_later(TICK, self._probe)

    @property
    def sockets(self) -> list[socket.socket]:
        return [self.sock]

    def close(self) -> None:
        """Stop accepting for good and close the listening socket (open connections stay)."""
        if self._closed:
            return
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        if self._resuming is not None:
            self._resuming.cancel()
        if self._native is not None:
            self._native.close()
            self._native = None
        self.sock.close()

    async def _serve(self) -> asyncio.AbstractServer:
        dup = self.sock.dup()
        try:
            return await self._loop.create_server(self.factory, sock=dup, backlog=self.backlog)
        except BaseException:
            dup.close()
            raise

    def _probe(self) -> None:
        if free_descriptors(self.sock.fileno(), 1):
            self._timer = self._loop.call_later(TICK, self._probe)
            return
        now = self._loop.time()
        delay = self.clock.pause(now)
        if self._native is not None:
            self._native.close()
            self._native = None
        self._paused_at = now
        log.warning(
            "listener %s: out of file descriptors; not accepting for %gs (pause #%d)",
            self.name,
            delay,
            self.clock.pauses,
        )
        self._timer = self._loop.call_later(delay, self._try_resume)

    def _try_resume(self) -> None:
        if free_descriptors(self.sock.fileno(), RESUME_HEADROOM) < RESUME_HEADROOM:
            self._timer = self._loop.call_later(self.clock.still_short(), self._try_resume)
            return
        self._resuming = asyncio.ensure_future(self._resume())

    async def _resume(self) -> None:
        try:
            native = await self._serve()
        except OSError as exc:
            if not is_local_resource_error(exc):
                log.error("listener %s: cannot serve again: %s", self.name, exc)
            self._timer = self._loop.call_later(self.clock.still_short(), self._try_resume)
            return
        finally:
            self._resuming = None
        if self._closed:
            native.close()
            return
        self._native = native
        now = self._loop.time()
        self.clock.resumed(now)
        log.info(
            "listener %s: accepting again after %.2fs without descriptors",
            self.name,
            now - self._paused_at,
        )
        self._timer = self._loop.call_later(TICK, self._probe)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "paused" if self._native is None else "accepting"
        return f"<Acceptor {self.name} {state} pauses={self.clock.pauses}>"
