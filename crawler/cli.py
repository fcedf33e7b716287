"""`newsmill`: the command line. Config is loaded and validated at this edge, once.

Exit status: 0 done, 1 the work failed, 2 usage or config error.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from crawler.commands import (
    backfill,
    crawl,
    db,
    export,
    extract,
    health,
    history,
    run,
    runs,
    search,
    serve,
    sources,
    worker,
    workers,
)
from crawler.commands.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError
from crawler.errors import ConfigError

COMMANDS = [
    crawl, run, worker, workers, runs, sources, health, backfill, search, serve, export, history, extract, db
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="newsmill",
        description="Crawl news sources on a schedule, extract article text, store it deduplicated.",
        epilog="Exit status: 0 done, 1 the work failed, 2 usage or config error.",
    )
    parser.add_argument(
        "--config", metavar="PATH", help="config file (default: $NEWSMILL_CONFIG or ./config.yaml)"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.register(commands)
    return parser


def _database_failure(args: argparse.Namespace, exc: Exception) -> str | None:
    """The message for a database that failed a command; None for any other exception.

    The database libraries are imported here, not at the top: most of a crawl's start-up
    runs before it needs them, beside the extraction workers' own start-up."""
    from sqlalchemy.exc import InterfaceError, OperationalError

    from pipelines.storage.schema import DatabaseError, unavailable

    if isinstance(exc, DatabaseError):
        return str(exc)
    if not isinstance(exc, OperationalError | InterfaceError):
        return None
    # The database went away under a command that had no reason to check it first.
    from crawler.config import load_config

    try:
        return str(unavailable(load_config(args.config).database, exc))
    except ConfigError:
        return "the database is unavailable"


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except (ConfigError, UsageError) as exc:
        print(f"newsmill: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `newsmill export | head`: the reader is gone, which is not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:
        message = _database_failure(args, exc)
        if message is None:
            raise
        print(f"newsmill: {message}", file=sys.stderr)
        return EXIT_FAILED


def entry() -> NoReturn:
    """The `newsmill` command: main(), then a prompt exit.

    When main() returns, everything is stored, committed and closed. Tearing the interpreter
    down object by object (Scrapy, Twisted, SQLAlchemy: a third of a second of CPU) would only
    delay the exit that a user, a script or the daemon is waiting for.
    """
    code = main()
    logging.shutdown()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        pass  # the reader is gone; nothing left to say to it
    os._exit(code)


if __name__ == "__main__":
    entry()
