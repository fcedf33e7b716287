"""`newsmill serve`: the read-only web view and its JSON API, on 127.0.0.1 unless told otherwise."""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys

from crawler.commands.common import EXIT_OK, UsageError, load

DEFAULT_PORT = 8410
TOKEN_ENV = "NEWSMILL_TOKEN"
MIN_TOKEN = 16  # characters: a token anyone on the network can try must not be guessable


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def run(args: argparse.Namespace) -> int:
    config = load(args)
    if not 0 < args.port < 65536:
        raise UsageError(f"--port {args.port} is not a TCP port (1-65535)")
    token = args.token or os.environ.get(TOKEN_ENV) or None
    if token is not None and len(token) < MIN_TOKEN:
        raise UsageError(f"the token must be at least {MIN_TOKEN} characters long")
    if token is None and not is_loopback(args.host):
        raise UsageError(
            f"serving on {args.host}, beyond this machine, needs a token: --token TOKEN or "
            f"${TOKEN_ENV} (e.g. `openssl rand -hex 16`)"
        )
    import uvicorn

    from pipelines.storage import schema
    from web.app import WebSettings, create_app

    schema.prepare(config.database)  # refuses an outdated database with the command to run
    schedules = {name: source.schedule or "no schedule" for name, source in config.sources.items()}
    thresholds = {name: source.health for name, source in config.sources.items()}
    settings = WebSettings(database=config.database, schedules=schedules, token=token, thresholds=thresholds)
    app = create_app(settings)
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(
        f"newsmill: serving on http://{host}:{args.port}/"
        + (" (token required)" if token else "")
        + " - Ctrl-C stops",
        file=sys.stderr,
        flush=True,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=args.access_log)
    return EXIT_OK


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser(
        "serve",
        help="the read-only web view and its JSON API",
        description="Serve search, articles, sources with their charts, and crawl runs as web pages, "
        "and the same as JSON under /api (documented at /api). Read-only.",
        epilog=f"Bound to anything but the loopback address, every request must show a token "
        f"(--token or ${TOKEN_ENV}): `Authorization: Bearer TOKEN`, or ?token=TOKEN once in a browser.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port to listen on (default {DEFAULT_PORT})"
    )
    parser.add_argument(
        "--token", metavar="TOKEN", help=f"require this token of every request (default ${TOKEN_ENV})"
    )
    parser.add_argument("--access-log", action="store_true", help="log every request on stderr")
    parser.set_defaults(func=run)
