"""The entry points the main CLI wires: their error paths (runs are in tests/e2e)."""

from __future__ import annotations

import argparse

import pytest

from meshlb.bench.__main__ import main
from meshlb.bench.cli import add_arguments, run


def test_add_arguments_fills_a_subparser() -> None:
    parser = argparse.ArgumentParser(prog="meshlb")
    sub = parser.add_subparsers(dest="command")
    add_arguments(sub.add_parser("bench"))
    args = parser.parse_args(["bench", "http://127.0.0.1:1/", "-n", "5"])
    assert (args.command, args.url, args.requests) == ("bench", "http://127.0.0.1:1/", 5)


@pytest.mark.parametrize(
    "argv", [["not-a-url"], ["http://127.0.0.1:1/", "-c", "0"], ["http://127.0.0.1:1/", "-m", "2"]]
)
def test_a_bad_value_is_one_line_on_stderr_and_exit_2(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("meshlb bench: error: ") and captured.err.count("\n") == 1


def test_run_takes_a_namespace_from_any_parser(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert run(parser.parse_args(["ftp://127.0.0.1/"])) == 2
    assert "scheme must be http or https" in capsys.readouterr().err
