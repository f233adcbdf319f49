"""Splitting a run between worker processes."""

from __future__ import annotations

from dataclasses import dataclass, field

from meshlb.bench.options import BenchOptions
from meshlb.bench.request import h1_request_bytes, h2_request_headers


@dataclass(frozen=True, slots=True)
class WorkerPlan:
    """This worker's share of the run, fixed before it starts."""

    index: int
    address: tuple[str, int]  # resolved once by the parent
    server_hostname: str
    tls: bool
    insecure: bool
    http2: bool
    streams: int
    connections: int
    requests: int | None  # None: run for duration_s
    duration_s: float | None
    rate: float | None  # None: closed model
    timeout_s: float
    warmup_s: float
    request_bytes: bytes
    head: bool
    h2_headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""
    by_header: str | None = None


def split(total: int, parts: int) -> list[int]:
    """`total` shared as evenly as possible: the first `total % parts` get one more."""
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def worker_plans(options: BenchOptions, address: tuple[str, int]) -> list[WorkerPlan]:
    workers = options.workers
    connections = split(options.connections, workers)
    requests = split(options.requests, workers) if options.requests is not None else None
    request = options.request
    return [
        WorkerPlan(
            index=i,
            address=address,
            server_hostname=options.target.host,
            tls=options.target.tls,
            insecure=options.insecure,
            http2=options.http2,
            streams=options.streams,
            connections=connections[i],
            requests=requests[i] if requests is not None else None,
            duration_s=options.duration_s,
            rate=options.rate / workers if options.rate is not None else None,
            timeout_s=options.timeout_s,
            warmup_s=options.warmup_s,
            request_bytes=b"" if options.http2 else h1_request_bytes(request),
            head=request.is_head,
            h2_headers=h2_request_headers(request) if options.http2 else [],
            body=request.body,
            by_header=options.by_header,
        )
        for i in range(workers)
    ]
