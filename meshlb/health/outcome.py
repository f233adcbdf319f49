"""What one upstream attempt ended with, as the data path reports it to `EndpointSet.record`.

An outcome is a plain `int` so that reporting allocates nothing: an HTTP status (100-599) when
a response head arrived, or a negative `Fault` when none did. Passive health reads it as:

- success: any status below 500 (a 4xx is the client's problem, not the endpoint's);
- gateway failure: 502, 503, 504 and every fault except `CANCELLED`;
- 5xx: any status from 500 and every fault except `CANCELLED`;
- `CANCELLED` (the client went away first, or meshlb ran out of descriptors or socket memory
  before anything reached the upstream) tells nothing about the endpoint.
"""

from __future__ import annotations

import enum

from meshlb.errors import Failure


class Fault(enum.IntEnum):
    CONNECT = -1  # connect refused, timed out or failed: nothing reached the upstream
    RESET = -2  # the connection broke after the request was sent, before a response head
    TIMEOUT = -3  # no response head within the per-try timeout
    REFUSED_STREAM = -4  # HTTP/2 REFUSED_STREAM / GOAWAY: the upstream did not process it
    PROTOCOL = -5  # the upstream sent something that is not a valid response
    CANCELLED = -6  # the client went away or the proxy gave up: says nothing of the upstream


_FAULT_OF_FAILURE = {
    Failure.CONNECT_REFUSED: Fault.CONNECT,
    Failure.CONNECT_TIMEOUT: Fault.CONNECT,
    Failure.CONNECT_ERROR: Fault.CONNECT,
    Failure.RESET: Fault.RESET,
    Failure.TIMEOUT: Fault.TIMEOUT,
    Failure.BAD_RESPONSE: Fault.PROTOCOL,
    Failure.LOCAL_RESOURCE: Fault.CANCELLED,
}


def fault_of(failure: Failure) -> Fault:
    """The fault to report for a failed attempt (local failures count as cancelled)."""
    return _FAULT_OF_FAILURE.get(failure, Fault.CANCELLED)


def is_success(outcome: int) -> bool:
    return 0 < outcome < 500


def is_gateway_failure(outcome: int) -> bool:
    return 502 <= outcome <= 504 or (outcome < 0 and outcome != Fault.CANCELLED)


_WORDS = {
    Fault.CONNECT: "connect failure",
    Fault.RESET: "reset",
    Fault.TIMEOUT: "timeout",
    Fault.REFUSED_STREAM: "refused stream",
    Fault.PROTOCOL: "invalid response",
    Fault.CANCELLED: "cancelled",
}


def describe(outcome: int) -> str:
    """`"503"`, `"connect failure"`: for logs and ejection reasons."""
    return str(outcome) if outcome > 0 else _WORDS[Fault(outcome)]
