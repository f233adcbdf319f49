"""`python -m meshlb.bench URL ...`: the bench command on its own."""

from __future__ import annotations

import argparse
import sys

from meshlb.bench.cli import PROG, add_arguments, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=PROG, description="HTTP/1.1 and HTTP/2 load generator (closed or open model)."
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
