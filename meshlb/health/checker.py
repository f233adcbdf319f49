"""HealthChecker: the async shell that runs one cluster's active health checks.

One task per endpoint loops: wait, run the probe under `health.timeout`, count the result in
the endpoint's `RiseFall`, and when that flips, write the new state to the `EndpointSet`
(`set_active_health`), which logs the transition and rebuilds the snapshot. All the deciding
is in `RiseFall` and `check_delay` (pure, tested with a fake clock); this module only owns
timers, sockets and the mapping of probe exceptions to failed results. A check that fails
because meshlb itself is out of descriptors or socket memory is no result at all: it is
counted in `skipped` and says nothing of the endpoint.

The first check of each endpoint runs after a random fraction of `jitter * interval`, so that a
restart does not fire every check at once while an `initial_state = "unhealthy"` endpoint is
still admitted quickly. Ejected and draining endpoints are checked like the others: their
health is what decides whether they can come back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from typing import TYPE_CHECKING

from meshlb.errors import is_local_resource_error
from meshlb.health import probes
from meshlb.health.config import HealthCheckConfig
from meshlb.health.probes import Probe, ProbeResult
from meshlb.health.risefall import RiseFall, check_delay
from meshlb.model import Endpoint

if TYPE_CHECKING:
    from meshlb.cluster.endpoints import EndpointSet

log = logging.getLogger("meshlb.health")


class HealthChecker:
    def __init__(
        self,
        endpoint_set: EndpointSet,
        config: HealthCheckConfig,
        *,
        probe: Probe | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.endpoint_set = endpoint_set
        self.config = config
        self.probe = probe if probe is not None else probes.create(config)
        self.rng = rng if rng is not None else random.Random()
        self.states: dict[Endpoint, RiseFall] = {}
        self.last: dict[Endpoint, ProbeResult] = {}
        self.checks = 0
        self.failures = 0
        self.skipped = 0  # checks meshlb could not make (out of descriptors)
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def results(self) -> dict[str, int]:
        """Check results so far, for the admin API: {"success": n, "failure": n}."""
        return {"success": self.checks - self.failures, "failure": self.failures}

    async def start(self) -> None:
        """Set every endpoint to `initial_state` and start checking."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        initial = self.config.initial_state == "healthy"
        for endpoint in self.endpoint_set.endpoints:
            # An endpoint kept across a reload keeps the state it had; a new one starts in
            # `initial_state`.
            healthy = endpoint.healthy if endpoint.last_reason != "added" else initial
            self.states[endpoint] = RiseFall(
                self.config.rise, self.config.fall, healthy=healthy, now=now
            )
            if not healthy:
                self.endpoint_set.set_active_health(
                    endpoint, False, "initial state: waiting for a passing check", now
                )
            name = f"health {self.endpoint_set.cluster}/{endpoint.address}"
            self._tasks.append(loop.create_task(self._run(endpoint), name=name))

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def check_once(self, endpoint: Endpoint) -> ProbeResult | None:
        """Run the probe once under the timeout; every exception becomes a failed result,
        except a local resource error, which is None: no verdict."""
        timeout = float(self.config.timeout)
        try:
            async with asyncio.timeout(timeout):
                return await self.probe.check(endpoint.host, endpoint.port)
        except TimeoutError:
            return ProbeResult(False, f"no answer within {timeout:g}s")
        except (OSError, EOFError, ValueError, asyncio.IncompleteReadError) as exc:
            if is_local_resource_error(exc):
                return None
            return ProbeResult(False, probes.describe_error(exc))
        except Exception as exc:  # a third-party probe's bug must not stop the checks
            log.exception("health probe %s crashed", self.config.kind)
            return ProbeResult(False, probes.describe_error(exc))

    async def _run(self, endpoint: Endpoint) -> None:
        loop = asyncio.get_running_loop()
        config = self.config
        state = self.states[endpoint]
        interval = float(config.interval)
        down_interval = config.down_interval
        await asyncio.sleep(self.rng.random() * config.jitter * interval)
        while True:
            result = await self.check_once(endpoint)
            now = loop.time()
            if result is None:
                self.skipped += 1
            else:
                self.checks += 1
                if not result.ok:
                    self.failures += 1
                    log.debug("health %s: %s", endpoint.address, result.detail)
                self.last[endpoint] = result
                if state.observe(result.ok, now):
                    self.endpoint_set.set_active_health(endpoint, state.healthy, result.detail, now)
            delay = check_delay(
                state.healthy, interval, down_interval, config.jitter, self.rng.random()
            )
            await asyncio.sleep(delay)

    def __repr__(self) -> str:
        down = sum(1 for s in self.states.values() if not s.healthy)
        return (
            f"<HealthChecker {self.endpoint_set.cluster} {self.config.kind} "
            f"every {float(self.config.interval):g}s endpoints={len(self.states)} "
            f"unhealthy={down} checks={self.checks} failed={self.failures} "
            f"running={bool(self._tasks)}>"
        )
