from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.backends import Backend

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


class Meshlb:
    def __init__(self, args: list[str], port: int, env: dict[str, str] | None = None) -> None:
        self.port = port
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "meshlb", *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )
        try:
            wait_port(port)
        except TimeoutError:
            self.proc.kill()
            out, err = self.proc.communicate()
            raise RuntimeError(f"meshlb did not start: {err.decode()}") from None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> tuple[int, str, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
        return self.proc.returncode, out.decode(), err.decode()


@pytest.fixture
def backends() -> Iterator[list[Backend]]:
    started = [Backend(f"b{i}") for i in range(1, 4)]
    yield started
    for b in started:
        b.stop()


@pytest.fixture
def start_meshlb() -> Iterator:
    procs: list[Meshlb] = []

    def start(*args: str, port: int | None = None, env: dict[str, str] | None = None) -> Meshlb:
        port = port or free_port()
        argv = list(args)
        if "--listen" in argv:
            i = argv.index("--listen")
            if argv[i + 1] == "AUTO":
                argv[i + 1] = f"127.0.0.1:{port}"
        m = Meshlb(argv, port, env)
        procs.append(m)
        return m

    yield start
    for m in procs:
        m.stop()


@pytest.fixture(params=["llhttp", "h11"])
def codec(request: pytest.FixtureRequest) -> str:
    """Both HTTP/1.1 codecs run the same end-to-end suite."""
    return str(request.param)


@pytest.fixture
def proxy(start_meshlb, backends, codec: str) -> Meshlb:
    """meshlb in quick mode in front of the three backends."""
    args = ["run", "--listen", "AUTO", "--codec", codec]
    for b in backends:
        args += ["--upstream", b.address]
    return start_meshlb(*args)
