import json
from pathlib import Path

from meshlb.accesslog import AccessEntry, AccessLog


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
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines[0]["status"] == 200 and lines[0]["bytes_out"] == 12
    assert "reason" not in lines[0]  # defaults are omitted
    assert lines[1]["reason"] == "upstream reset before response"
    log.close()
