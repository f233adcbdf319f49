"""Failures that reach a client: where they came from, what status they map to, retry safety."""

from __future__ import annotations

import enum
import errno


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
    # meshlb itself ran out of descriptors or socket memory: the endpoint is not to blame.
    LOCAL_RESOURCE = (503, "local resource exhausted", Source.LOCAL)
    BODY_TIMEOUT = (408, "request body timeout: the body arrived too slowly", Source.DOWNSTREAM)
    CLIENT_LIMIT = (429, "too many requests in flight from this client", Source.DOWNSTREAM)

    @property
    def status(self) -> int:
        return int(self.value[0])

    @property
    def text(self) -> str:
        return str(self.value[1])

    @property
    def source(self) -> Source:
        source: Source = self.value[2]
        return source

    @property
    def connect_stage(self) -> bool:
        """Nothing of the request reached the upstream, so any method may be retried."""
        return self in (Failure.CONNECT_REFUSED, Failure.CONNECT_TIMEOUT, Failure.CONNECT_ERROR)


# Errors of this process, not of the peer: out of descriptors (per process, system-wide) or
# out of kernel memory for a new socket.
LOCAL_RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


def is_local_resource_error(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in LOCAL_RESOURCE_ERRNOS
