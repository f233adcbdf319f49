"""The `meshlb` command: run, check, demo, bench, version."""

from __future__ import annotations

import argparse
import logging
import re
import sys
from collections.abc import Sequence
from typing import Any

import uvloop

from meshlb import __version__
from meshlb.config.load import ConfigError, admin_errors, load_file, validate
from meshlb.config.schema import Config
from meshlb.linewriter import stderr_handler

log = logging.getLogger("meshlb")


def _quick_config(args: argparse.Namespace) -> dict[str, Any]:
    """The config `run --listen ... --upstream ...` stands for: one listener, one cluster."""
    listener: dict[str, Any] = {"name": "default", "address": args.listen, "codec": args.codec}
    cluster: dict[str, Any] = {"endpoints": list(args.upstream), "balancer": args.balancer}
    raw: dict[str, Any] = {"listeners": [listener], "clusters": {"default": cluster}}
    if args.access_log:
        raw["access_log"] = args.access_log
    return raw


def _flag_names(errors: list[str]) -> list[str]:
    """Speak of flags, not TOML paths, when the config came from flags."""
    out = []
    for line in errors:
        line = re.sub(r"^listeners\[0\]\.address", "--listen", line)
        line = re.sub(r"^listeners\[0\]\.codec", "--codec", line)
        line = re.sub(r"^clusters\.default\.balancer", "--balancer", line)
        line = re.sub(
            r"^clusters\.default\.endpoints\[(\d+)\](\.address)?",
            lambda m: f"--upstream #{int(m.group(1)) + 1}",
            line,
        )
        out.append(line)
    return out


def load_run_config(args: argparse.Namespace) -> Config:
    config = _load_run_config(args)
    if args.admin:
        import msgspec

        from meshlb.config.units import parse_address

        admin = msgspec.structs.replace(config.admin, enabled=args.admin != "off")
        if args.admin != "off":
            try:
                parse_address(args.admin, allow_any_port=True)
            except ValueError as exc:
                raise ConfigError([f"--admin: {exc}"], "command line") from None
            admin = msgspec.structs.replace(admin, address=args.admin)
            if errors := admin_errors(admin, where="--admin"):
                raise ConfigError(errors, "command line")
        config = msgspec.structs.replace(config, admin=admin)
    return config


def _load_run_config(args: argparse.Namespace) -> Config:
    if args.config:
        if args.listen or args.upstream:
            raise ConfigError(["use either -c FILE or --listen/--upstream, not both"])
        config = load_file(args.config)
        if args.access_log:
            import msgspec

            config = msgspec.structs.replace(config, access_log=args.access_log)
        return config
    if not args.listen or not args.upstream:
        raise ConfigError(
            ["give -c FILE, or --listen ADDRESS with at least one --upstream ADDRESS"]
        )
    try:
        return validate(_quick_config(args), "command line")
    except ConfigError as exc:
        raise ConfigError(_flag_names(exc.errors), "command line") from None


def cmd_run(args: argparse.Namespace) -> int:
    try:
        config = load_run_config(args)
    except ConfigError as exc:
        print(f"meshlb: {exc}", file=sys.stderr)
        return 1
    from meshlb.supervisor import resolve_workers, run_supervisor

    workers = resolve_workers(args.workers if args.workers is not None else config.workers)
    if workers > 1:
        return uvloop.run(run_supervisor(config, args.config, workers))
    return uvloop.run(_serve(config, args.config))


def cmd_worker(args: argparse.Namespace) -> int:
    from meshlb.worker import run_worker

    return uvloop.run(run_worker(args.fd))


def _workers(value: str) -> int | str:
    if value == "auto":
        return value
    if not value.isdigit() or not 1 <= int(value) <= 256:
        raise argparse.ArgumentTypeError("expected a number from 1 to 256, or auto")
    return int(value)


async def _serve(config: Config, config_path: str | None = None) -> int:
    from meshlb.app import App

    app = App(config, config_path=config_path)
    try:
        await app.start()
    except OSError as exc:
        log.error("cannot listen: %s", exc)
        return 1
    for host, port in app.addresses:
        log.info("meshlb %s listening on %s:%d", __version__, host, port)
    await app.run_until_stopped()
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    try:
        config = load_file(args.config)
    except ConfigError as exc:
        print(f"meshlb: {exc}", file=sys.stderr)
        return 1
    http = any(lc.protocol == "http" for lc in config.listeners)
    routes = len(config.routes) or (1 if http else 0)
    endpoints = sum(len(c.endpoints) for c in config.clusters.values())
    print(
        f"{args.config}: ok ({len(config.listeners)} listener(s), {routes} route(s), "
        f"{len(config.clusters)} cluster(s), {endpoints} endpoint(s))"
    )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    return uvloop.run(_demo(args.listen))


async def _demo(listen: str) -> int:
    from meshlb.app import App
    from meshlb.demo import banner, demo_config, start_demo_backends

    servers, ports = await start_demo_backends()
    app = App(demo_config(listen, ports))
    try:
        await app.start()
    except OSError as exc:
        print(f"meshlb demo: cannot listen on {listen}: {exc.strerror}", file=sys.stderr)
        return 1
    print(banner(listen), flush=True)
    await app.run_until_stopped()
    for server in servers:
        server.close()
    return 0


def cmd_reload(args: argparse.Namespace) -> int:
    """Ask a running meshlb to reload its config through its admin API."""
    import json
    import urllib.error
    import urllib.request

    request = urllib.request.Request(f"http://{args.admin}/reload", method="POST", data=b"")
    if args.token:
        request.add_header("Authorization", f"Bearer {args.token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            print(f"meshlb at {args.admin}: reload applied, every worker runs the new config")
            return 0 if response.status == 200 else 1
    except urllib.error.HTTPError as exc:
        try:
            errors = json.loads(exc.read()).get("errors", [])
        except ValueError:
            errors = [f"HTTP {exc.code}"]
        print("meshlb: reload not applied, the old config keeps running:", file=sys.stderr)
        for line in errors or [f"HTTP {exc.code}"]:
            print(f"  {line}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"meshlb: cannot reach the admin API at {args.admin}: {exc}", file=sys.stderr)
        return 1


def cmd_version(args: argparse.Namespace) -> int:
    from meshlb.protocol.fastpath import SCANNER

    # The head scanner tells whether the C part was built (see the README's install notes).
    print(f"meshlb {__version__} (python {sys.version.split()[0]}, head scanner: {SCANNER})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="meshlb", description=__doc__)
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the proxy from a config file or from flags")
    run.add_argument("-c", "--config", help="TOML config file")
    run.add_argument("--listen", help="quick mode: HTTP listener address, e.g. 127.0.0.1:8080")
    run.add_argument(
        "--upstream",
        action="append",
        default=[],
        metavar="ADDRESS",
        help="quick mode: an upstream endpoint (repeat for more)",
    )
    run.add_argument("--balancer", default="round_robin", help="quick mode: balancer name")
    run.add_argument("--codec", default="llhttp", help="quick mode: HTTP/1.1 codec (llhttp or h11)")
    run.add_argument("--access-log", help='"stdout", "stderr" or a file path')
    run.add_argument(
        "--admin", metavar="ADDRESS", help='admin API address (default 127.0.0.1:9901), or "off"'
    )
    run.add_argument(
        "--workers",
        type=_workers,
        default=None,
        help='worker processes: a number or "auto" (one per core); default 1',
    )
    run.set_defaults(func=cmd_run)

    worker = sub.add_parser("worker", help=argparse.SUPPRESS)
    worker.add_argument("--fd", type=int, required=True)
    worker.set_defaults(func=cmd_worker)

    check = sub.add_parser("check", help="validate a config file")
    check.add_argument("-c", "--config", required=True, help="TOML config file")
    check.set_defaults(func=cmd_check)

    demo = sub.add_parser("demo", help="the proxy in front of built-in demo backends")
    demo.add_argument("--listen", default="127.0.0.1:8080")
    demo.set_defaults(func=cmd_demo)

    bench = sub.add_parser("bench", help="HTTP load generator")
    try:
        from meshlb.bench.cli import add_arguments
        from meshlb.bench.cli import run as run_bench
    except ImportError:  # pragma: no cover - the bench package is always shipped
        pass
    else:
        add_arguments(bench)
        bench.set_defaults(func=run_bench)

    reload = sub.add_parser("reload", help="make a running meshlb reload its config")
    reload.add_argument("--admin", default="127.0.0.1:9901", help="its admin API address")
    reload.add_argument("--token", help="the admin API bearer token, if one is set")
    reload.set_defaults(func=cmd_reload)

    version = sub.add_parser("version", help="print the version")
    version.set_defaults(func=cmd_version)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=[stderr_handler()],
    )
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
