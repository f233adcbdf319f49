"""What the admin API may ask of a running meshlb: the one interface between them."""

from __future__ import annotations

from typing import Any, Protocol

from meshlb.admin.snapshot import MetricsSnapshot


class Control(Protocol):
    def snapshot(self) -> MetricsSnapshot:
        """Counters and endpoint state, merged across workers."""

    def config_view(self) -> dict[str, Any]:
        """The running config as plain data (secrets such as the admin token removed)."""

    def drain(self, cluster: str, address: str, draining: bool) -> str | None:
        """Drain or undrain one endpoint. None on success, else why not (e.g. unknown)."""

    async def reload(self) -> list[str]:
        """Load the config file again, all or nothing: [] when every worker runs it, else
        every error, and no worker runs any of it (the old config keeps running)."""

    def ready(self) -> bool:
        """False while shutting down or draining (readiness probes fail then)."""
