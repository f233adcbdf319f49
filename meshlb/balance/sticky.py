"""Cookie stickiness: pin a client to the endpoint that served it (HAProxy's `cookie insert`).

The proxy sets a cookie to `cookie_value(endpoint)` on a response when the request had none
(or had one that no longer matches), and on later requests asks `StickyIndex.find` for the
endpoint. The value is 16 hex digits of a stable hash of `endpoint.key`: opaque (it does not
reveal the address), the same in every worker process and across restarts, and it survives
membership changes for as long as the endpoint exists.

`find` returns None, and the proxy falls back to `select()` and sets a new cookie, when the
endpoint is gone or not eligible, was already tried by this request, or is backing off after
a Retry-After: stickiness never sends a request where `select` would not. An endpoint of
weight 0 keeps its sticky clients while getting no new ones (HAProxy's soft stop).
"""

from __future__ import annotations

from meshlb.balance.hashing import hash_key
from meshlb.balance.select import acceptable
from meshlb.model import Endpoint, PickContext, Snapshot

_PREFIX = b"meshlb-sticky:"


def cookie_value(endpoint: Endpoint) -> str:
    """The opaque, stable cookie value naming `endpoint`."""
    return f"{hash_key(_PREFIX + endpoint.key):016x}"


class StickyIndex:
    """Cookie value -> eligible endpoint, precomputed once per snapshot."""

    def __init__(self) -> None:
        self._snapshot: Snapshot | None = None
        self._by_value: dict[str, Endpoint] = {}

    def rebuild(self, snapshot: Snapshot) -> None:
        self._by_value = {cookie_value(e): e for e in snapshot.eligible}
        self._snapshot = snapshot

    def find(self, value: str, ctx: PickContext, snapshot: Snapshot) -> Endpoint | None:
        """The endpoint named by a cookie, if this request may use it; else None."""
        if snapshot is not self._snapshot:
            self.rebuild(snapshot)
        endpoint = self._by_value.get(value)
        if endpoint is None or not acceptable(endpoint, ctx):
            return None
        return endpoint

    def __repr__(self) -> str:
        version = self._snapshot.version if self._snapshot else None
        return f"<StickyIndex v={version} endpoints={len(self._by_value)}>"
