"""Remediation hooks: run a command or call a webhook when an endpoint stays down.

Theory of operation. The app calls `RemediationRunner.tick(views, now)` about once a second
with the cluster's current `EndpointView`s and the unix time (`now` shares its clock with
`EndpointView.last_change`). `due()` is the pure decision, per endpoint:

    endpoint healthy                 -> forget it was down; its run count starts again at 0
    down (healthy is False)          -> down since the transition (`last_change`), kept while
                                        it stays down
    draining                         -> never remediated: an operator took it out on purpose
    down >= after, runs < max_runs,
    none in flight, and the previous
    run started >= min_interval ago  -> due: one more run

`tick()` then starts one task per due run: the command (argv with `{cluster}`, `{address}`,
`{host}`, `{port}` substituted, MESHLB_* variables in its environment) and/or the webhook
(an HTTP/1.1 JSON POST). Each finished action is logged once and kept, newest last, in a
short per-endpoint history (`history(address)`) that the admin API shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shlex
import signal
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated
from urllib.parse import urlsplit

import httptools
import msgspec
from msgspec import Meta

from meshlb.config.units import Duration, parse_address

if TYPE_CHECKING:
    from meshlb.admin.snapshot import EndpointView

log = logging.getLogger("meshlb.remediation")

OUTPUT_LIMIT = 4096  # bytes of command output or webhook response kept per run
HISTORY = 10  # runs kept per endpoint


class RemediationConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """`[clusters.NAME.on_unhealthy]`: what to do about an endpoint that stays down."""

    command: list[str] | None = None  # argv; no shell unless you run one
    webhook: str | None = None  # http:// URL receiving a JSON POST
    after: Duration = Duration(30.0)  # how long an endpoint must have been down
    min_interval: Duration = Duration(300.0)  # between two runs for one endpoint
    max_runs: Annotated[int, Meta(ge=1, le=1000)] = 3  # per outage; reset on recovery
    timeout: Duration = Duration(30.0)  # per command or webhook call

    def __post_init__(self) -> None:
        if self.command is None and self.webhook is None:
            raise ValueError("on_unhealthy: set command, webhook or both")
        if self.command is not None and (not self.command or not self.command[0]):
            raise ValueError("on_unhealthy.command: expected a non-empty argv list")
        if self.webhook is not None:
            url = urlsplit(self.webhook)
            if url.scheme != "http" or not url.hostname:
                raise ValueError(
                    f"on_unhealthy.webhook: expected an http:// URL, got {self.webhook!r}"
                )
        if self.timeout <= 0:
            raise ValueError("on_unhealthy.timeout: must be more than 0")


@dataclass(frozen=True, slots=True)
class Run:
    """One decided remediation: what `due()` returns and `execute()` performs."""

    cluster: str
    address: str
    reason: str
    down_seconds: float
    count: int  # 1 for the first run of this outage

    @property
    def host_port(self) -> tuple[str, str]:
        try:
            host, port = parse_address(self.address)
        except ValueError:
            return self.address, ""
        return host, str(port)


class HookRun(msgspec.Struct, kw_only=True):
    """One finished command or webhook call, as kept in the history."""

    kind: str  # "command" or "webhook"
    target: str  # the command line run, or the URL
    time: float  # unix time it started
    count: int
    reason: str
    down_seconds: float
    ok: bool = False
    exit_code: int | None = None  # commands; negative: killed by that signal
    status: int | None = None  # webhooks: the HTTP status
    error: str = ""
    output: str = ""  # the first OUTPUT_LIMIT bytes of output or response body
    duration: float = 0.0


@dataclass(slots=True)
class _Track:
    down_since: float | None = None
    runs: int = 0
    last_run: float = 0.0


class RemediationRunner:
    def __init__(self, cluster: str, config: RemediationConfig) -> None:
        self.cluster = cluster
        self.config = config
        self._tracks: dict[str, _Track] = {}
        self._history: dict[str, deque[HookRun]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._running: set[str] = set()  # addresses with a run in flight

    def __repr__(self) -> str:
        down = sum(1 for t in self._tracks.values() if t.down_since is not None)
        return (
            f"<RemediationRunner {self.cluster} down={down} running={len(self._tasks)} "
            f"after={self.config.after!r} max_runs={self.config.max_runs}>"
        )

    # -- decision (pure: no I/O, time passed in) ---------------------------------------------

    def due(self, views: Sequence[EndpointView], now: float) -> list[Run]:
        """The runs to start now; counts them as started (the caller must start them)."""
        config, runs = self.config, []
        seen = set()
        for view in views:
            seen.add(view.address)
            track = self._tracks.setdefault(view.address, _Track())
            if view.healthy:
                track.down_since, track.runs = None, 0
                continue
            if track.down_since is None:
                track.down_since = view.last_change if 0 < view.last_change <= now else now
            down = now - track.down_since
            if view.draining or view.address in self._running or down < config.after:
                continue
            if track.runs >= config.max_runs:
                continue
            if track.runs and now - track.last_run < config.min_interval:
                continue
            track.runs += 1
            track.last_run = now
            reason = view.ejection_reason if view.ejected else view.last_reason
            runs.append(Run(self.cluster, view.address, reason or "unhealthy", down, track.runs))
        for address in [a for a in self._tracks if a not in seen]:
            del self._tracks[address]
            self._history.pop(address, None)
        return runs

    def history(self, address: str) -> list[dict[str, object]]:
        """Finished runs for one endpoint, oldest first, as plain data (for EndpointView.hooks)."""
        return [msgspec.structs.asdict(done) for done in self._history.get(address, ())]

    # -- the async shell ---------------------------------------------------------------------

    def tick(
        self, views: Sequence[EndpointView], now: float | None = None
    ) -> list[asyncio.Task[None]]:
        """Decide, then start a task per due run (call from the event loop, ~every second)."""
        started = []
        for run in self.due(views, time.time() if now is None else now):
            self._running.add(run.address)
            task = asyncio.create_task(self.execute(run), name=f"remediation {run.address}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            started.append(task)
        return started

    async def execute(self, run: Run) -> None:
        try:
            log.warning(
                "remediation: %s/%s down for %.0fs (%s): run %d of %d",
                *(run.cluster, run.address, run.down_seconds, run.reason, run.count),
                self.config.max_runs,
            )
            if self.config.command is not None:
                self._record(run.address, await self._run_command(run, self.config.command))
            if self.config.webhook is not None:
                self._record(run.address, await self._call_webhook(run, self.config.webhook))
        except Exception:  # a bug here costs one run, never the supervisor's loop
            log.exception("remediation: %s/%s run %d failed", run.cluster, run.address, run.count)
        finally:
            self._running.discard(run.address)

    async def close(self) -> None:
        """Cancel runs in flight (their commands are killed) and wait for them."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _record(self, address: str, done: HookRun) -> None:
        self._history.setdefault(address, deque(maxlen=HISTORY)).append(done)
        log.log(
            logging.INFO if done.ok else logging.WARNING,
            "remediation: %s/%s %s %s in %.2fs: %s%s",
            *(self.cluster, address, done.kind, "succeeded" if done.ok else "failed"),
            *(done.duration, done.exit_code if done.kind == "command" else done.status),
            f" ({done.error})" if done.error else "",
        )

    def _started(self, run: Run, kind: str, target: str) -> HookRun:
        return HookRun(
            kind=kind,
            target=target,
            time=time.time(),
            count=run.count,
            reason=run.reason,
            down_seconds=round(run.down_seconds, 3),
        )

    async def _run_command(self, run: Run, template: list[str]) -> HookRun:
        host, port = run.host_port
        values = {
            "{cluster}": run.cluster,
            "{address}": run.address,
            "{host}": host,
            "{port}": port,
        }
        argv = []
        for arg in template:
            for placeholder, value in values.items():
                arg = arg.replace(placeholder, value)
            argv.append(arg)
        env = {
            **os.environ,
            "MESHLB_CLUSTER": run.cluster,
            "MESHLB_ENDPOINT": run.address,
            "MESHLB_REASON": run.reason,
            "MESHLB_DOWN_SECONDS": f"{run.down_seconds:.0f}",
            "MESHLB_RUN_COUNT": str(run.count),
        }
        done, started = self._started(run, "command", shlex.join(argv)), time.monotonic()
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                env=env,
                start_new_session=True,  # its own process group, killed as one on timeout
            )
        except OSError as exc:
            done.error = f"cannot start: {exc.strerror or exc}"
            return done
        assert proc.stdout is not None
        output = bytearray()
        reading = asyncio.ensure_future(_read_capped(proc.stdout, output))
        try:
            await asyncio.wait_for(proc.wait(), self.config.timeout)
        except TimeoutError:
            done.error = f"timed out after {float(self.config.timeout):g}s"
        finally:
            if proc.returncode is None:  # timed out or cancelled: kill the whole group
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
            # A background child may hold the pipe open after the command exits: stop
            # reading then, without killing it (it may be what the command started).
            await asyncio.wait({reading}, timeout=1.0)
            reading.cancel()
        done.exit_code = proc.returncode
        done.ok = proc.returncode == 0 and not done.error
        done.output = output.decode("utf-8", "replace")
        done.duration = round(time.monotonic() - started, 3)
        return done

    async def _call_webhook(self, run: Run, url: str) -> HookRun:
        body = {
            "cluster": run.cluster,
            "endpoint": run.address,
            "reason": run.reason,
            "count": run.count,
            "down_seconds": round(run.down_seconds, 3),
        }
        done, started = self._started(run, "webhook", url), time.monotonic()
        try:
            coro = post_json(url, msgspec.json.encode(body))
            status, done.output = await asyncio.wait_for(coro, self.config.timeout)
            done.status, done.ok = status, 200 <= status < 300
        except TimeoutError:
            done.error = f"timed out after {float(self.config.timeout):g}s"
        except (OSError, ValueError, httptools.HttpParserError) as exc:
            done.error = str(exc) or type(exc).__name__
        done.duration = round(time.monotonic() - started, 3)
        return done


async def _read_capped(stream: asyncio.StreamReader, kept: bytearray) -> None:
    """Read to EOF into `kept`, up to OUTPUT_LIMIT bytes (the rest is read and dropped, so
    that a chatty command never blocks on a full pipe)."""
    while chunk := await stream.read(65536):
        kept += chunk[: max(0, OUTPUT_LIMIT - len(kept))]


class _ResponseCollector:
    def __init__(self) -> None:
        self.body = bytearray()
        self.complete = False

    def on_body(self, body: bytes) -> None:
        self.body += body[: max(0, OUTPUT_LIMIT - len(self.body))]

    def on_message_complete(self) -> None:
        self.complete = True


async def post_json(url: str, payload: bytes) -> tuple[int, str]:
    """A minimal HTTP/1.1 POST (one request, `Connection: close`): (status, body text)."""
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or 80
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    authority = parts.netloc.rpartition("@")[2]
    head = (
        f"POST {target} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: meshlb-remediation\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
        "Connection: close\r\n\r\n"
    )
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(head.encode("latin-1") + payload)
        await writer.drain()
        collector = _ResponseCollector()
        parser = httptools.HttpResponseParser(collector)
        while not collector.complete:
            chunk = await reader.read(65536)
            if not chunk:  # the server closed: a close-delimited body ends here
                break
            parser.feed_data(chunk)
        status = parser.get_status_code()
        if not status:
            raise ValueError("no HTTP response")
        return status, collector.body.decode("utf-8", "replace")
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
