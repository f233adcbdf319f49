"""Failures that reach a client: where they came from, what status they map to, retry safety."""

from __future__ import annotations

import enum


class Source(enum.Enum):
    DOWNSTREAM = "downstream"
    UPSTREAM = "upstream"
    LOCAL = "local"


class Failure(enum.Enum):
    """Why a request did not get an upstream response. Value: (status, text, source)."""

    NO_ROUTE = (404, "no route matches this request", Source.LOCAL)
    NO_ENDPOINT = (503, "no healthy upstream endpoint", Source.LOCAL)
    OVERFLOW = (503, "upstream overloaded: limit reached", Source.LOCAL)
    CONNECT_REFUSED = (502, "upstream connect error: connection refused", Source.UPSTREAM)
    CONNECT_TIMEOUT = (504, "upstream connect timeout", Source.UPSTREAM)
    CONNECT_ERROR = (502, "upstream connect error", Source.UPSTREAM)
    RESET = (502, "upstream reset before response", Source.UPSTREAM)
    BAD_RESPONSE = (502, "upstream sent an invalid response", Source.UPSTREAM)
    TIMEOUT = (504, "upstream request timeout", Source.UPSTREAM)
    SHUTDOWN = (503, "proxy is shutting down", Source.LOCAL)

    @property
    def status(self) -> int:
        return int(self.value[0])

    @property
    def text(self) -> str:
        return str(self.value[1])

    @property
    def connect_stage(self) -> bool:
        """Nothing of the request reached the upstream, so any method may be retried."""
        return self in (Failure.CONNECT_REFUSED, Failure.CONNECT_TIMEOUT, Failure.CONNECT_ERROR)
