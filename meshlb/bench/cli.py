"""`meshlb bench`: the entry points the main CLI wires as a subcommand."""

from __future__ import annotations

import argparse
import socket
import sys
from typing import TextIO

from meshlb.bench import options as _options
from meshlb.bench.html import render_html
from meshlb.bench.options import BenchOptions, OptionsError, options_from_namespace
from meshlb.bench.plan import worker_plans
from meshlb.bench.pool import run_workers
from meshlb.bench.progress import Progress
from meshlb.bench.report import build_document, format_header, format_text, to_json
from meshlb.bench.summary import summarize
from meshlb.bench.target import Target

PROG = "meshlb bench"
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add every bench option to `parser` (a subcommand parser or a standalone one)."""
    _options.add_arguments(parser)


def _error(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr)


def resolve(target: Target) -> tuple[str, int]:
    """Where to connect: the address itself when the name has only one, else the name, so
    that each connect tries every address in turn."""
    infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    addresses = {str(info[4][0]) for info in infos}
    return (addresses.pop() if len(addresses) == 1 else target.host), target.port


def _write(path: str, text: str, stdout: TextIO) -> None:
    if path == "-":
        stdout.write(text)
        stdout.flush()
        return
    with open(path, "w", encoding="utf-8") as file:
        file.write(text)


def run(args: argparse.Namespace) -> int:
    """Run the benchmark that `args` describes; returns the process exit code."""
    try:
        options = options_from_namespace(args)
    except OptionsError as exc:
        _error(str(exc))
        return EXIT_USAGE
    try:
        address = resolve(options.target)
    except OSError as exc:
        _error(f"cannot resolve {options.target.host!r}: {exc.strerror or exc}")
        return EXIT_USAGE
    return _run(options, address)


def _run(options: BenchOptions, address: tuple[str, int]) -> int:
    stdout = sys.stdout
    # With the JSON document on stdout, the human-readable text goes to stderr.
    text = sys.stderr if options.json_path == "-" else stdout
    plans = worker_plans(options, address)
    text.write(format_header(options, len(plans)))
    text.flush()
    live = stdout.isatty() and options.json_path != "-"
    progress = Progress(len(plans), stdout if live else None)
    try:
        results = run_workers(plans, progress.add)
    finally:
        progress.clear()
    summary = summarize(results, options.open_model)
    if summary.fatal:
        _error(summary.fatal[0])
        return EXIT_FAILED
    doc = build_document(summary, options)
    text.write(format_text(doc))
    text.flush()
    try:
        if options.json_path is not None:
            _write(options.json_path, to_json(doc), stdout)
        if options.html_path is not None:
            _write(options.html_path, render_html(doc), stdout)
    except OSError as exc:
        _error(f"cannot write {exc.filename!r}: {exc.strerror}")
        return EXIT_FAILED
    if summary.interrupted:
        return EXIT_INTERRUPTED
    if summary.requests == 0 and summary.error_total > 0:
        return EXIT_FAILED
    return EXIT_OK
