import fcntl
import json
import os
import threading
import time
from pathlib import Path

from meshlb.accesslog import AccessEntry, AccessLog

F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)


def test_lines_are_json_buffered_until_flush(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    log = AccessLog(str(path))
    log.write(
        AccessEntry(
            ts=1.0,
            listener="edge",
            client="127.0.0.1",
            method="GET",
            path="/x",
            status=200,
            route="r",
            bytes_out=12,
        )
    )
    log.write(
        AccessEntry(
            ts=2.0,
            listener="edge",
            client="::1",
            method="POST",
            path="/y",
            status=502,
            reason="upstream reset before response",
        )
    )
    assert path.read_text() == ""  # nothing is written per request
    log.flush()
    log.close()  # waits for the writer thread
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines[0]["status"] == 200 and lines[0]["bytes_out"] == 12
    assert "reason" not in lines[0]  # defaults are omitted
    assert lines[1]["reason"] == "upstream reset before response"


def entry(path: str) -> AccessEntry:
    return AccessEntry(ts=1.0, listener="edge", client="::1", method="GET", path=path, status=200)


def test_a_stalled_reader_costs_whole_lines_counted_and_never_blocks() -> None:
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, F_SETPIPE_SZ, 4096)
    log = AccessLog(f"/dev/fd/{write_end}", capacity=64 * 1024)
    started = time.monotonic()
    for i in range(2000):  # about 200 KiB: the pipe and the buffer hold a third of it
        log.write(entry(f"/{i:04d}" + "x" * 60))
        if i % 100 == 99:
            log.flush()
    assert time.monotonic() - started < 1.0
    assert 0 < log.dropped < 2000
    written: list[bytes] = []
    reader = threading.Thread(target=lambda: written.extend(os.fdopen(read_end, "rb")))
    reader.start()
    log.close()
    os.close(write_end)
    reader.join(5)
    assert len(written) + log.dropped == 2000
    paths = [json.loads(line)["path"] for line in written]  # whole lines, in order
    assert paths == sorted(paths)
