"""The upstream keep-alive race: a backend closes a connection just as meshlb reuses it.

The backend here closes every connection right after its answer, without saying
`Connection: close`: each pooled connection dies a moment after it went idle. A request that
got no byte back on a reused connection is retried on a fresh one when that is safe (GET), and
a request that cannot be retried (POST) is never sent on a connection that has not shown it
stays open.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.hostile.peers import CLOSE, Answer, Request, ScriptedBackend, response
from tests.e2e.hostile.test_upstream_integrity import start


def answer_and_close(request: Request) -> Answer:
    return [response(200, b"ok"), CLOSE]


@pytest.fixture
def closing_backend() -> Iterator[ScriptedBackend]:
    b = ScriptedBackend(answer_and_close)
    yield b
    b.stop()


def test_concurrent_gets_never_fail_when_the_backend_closes_after_each_answer(
    start_meshlb, tmp_path: Path, closing_backend: ScriptedBackend
) -> None:
    url = start(start_meshlb, tmp_path, closing_backend)
    statuses: list[int] = []

    def client() -> None:
        with httpx.Client(timeout=10) as c:
            for _ in range(40):
                statuses.append(c.get(url + "/").status_code)

    threads = [threading.Thread(target=client) for _ in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(statuses) == 32 * 40
    assert statuses.count(200) == len(statuses), {s: statuses.count(s) for s in set(statuses)}


def test_sequential_posts_never_fail_when_the_backend_closes_after_each_answer(
    start_meshlb, tmp_path: Path, closing_backend: ScriptedBackend
) -> None:
    url = start(start_meshlb, tmp_path, closing_backend)
    with httpx.Client(timeout=10) as c:
        statuses = [c.post(url + "/", content=b"payload").status_code for _ in range(50)]
    assert statuses == [200] * 50
    # Each POST went out once: none was sent on a connection the backend was closing.
    assert len(closing_backend.seen.requests) == 50


def test_concurrent_posts_never_fail_when_the_backend_closes_after_each_answer(
    start_meshlb, tmp_path: Path, closing_backend: ScriptedBackend
) -> None:
    url = start(start_meshlb, tmp_path, closing_backend)
    statuses: list[int] = []

    def client() -> None:
        with httpx.Client(timeout=10) as c:
            for _ in range(20):
                statuses.append(c.post(url + "/", content=b"payload").status_code)

    threads = [threading.Thread(target=client) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert statuses.count(200) == 16 * 20, {s: statuses.count(s) for s in set(statuses)}


def test_posts_reuse_connections_of_a_backend_that_keeps_them(start_meshlb, tmp_path: Path) -> None:
    """The rule costs a well-behaved backend few connections: one that answered a second
    request on a connection has shown it keeps connections open."""
    backend = ScriptedBackend(lambda request: response(200, b"ok"))
    try:
        url = start(start_meshlb, tmp_path, backend)
        with httpx.Client(timeout=10) as c:
            c.get(url + "/")
            c.get(url + "/")  # the connection is now known to stay open
            statuses = [c.post(url + "/", content=b"x").status_code for _ in range(20)]
        assert statuses == [200] * 20
        assert backend.seen.connections == 1
    finally:
        backend.stop()


def test_an_upstreams_keep_alive_timeout_is_honoured(start_meshlb, tmp_path: Path) -> None:
    """`Keep-Alive: timeout=1`: meshlb reuses the connection only within half a second of
    its last answer, well before the upstream closes it."""
    backend = ScriptedBackend(lambda request: response(200, b"ok", "keep-alive: timeout=1"))
    try:
        url = start(start_meshlb, tmp_path, backend)
        with httpx.Client(timeout=10) as c:
            assert c.get(url + "/").status_code == 200
            assert c.get(url + "/").status_code == 200  # at once: the same connection
            time.sleep(0.7)  # past the reuse limit, before the upstream's own timeout
            assert c.get(url + "/").status_code == 200
        assert [r.connection for r in backend.seen.requests] == [1, 1, 2]
    finally:
        backend.stop()
