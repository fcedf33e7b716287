"""`newsmill run` (and `python scheduler.py`): the daemon, until SIGTERM or Ctrl-C."""

from __future__ import annotations

import argparse
import logging

from crawler.commands.common import load
from crawler.daemon.logs import FORMATS, setup_logging


def run(args: argparse.Namespace) -> int:
    from crawler.daemon.service import Daemon

    config = load(args)
    setup_logging(args.log_format, logging.DEBUG if args.debug else logging.INFO)
    level = "INFO" if args.verbose else "ERROR"
    return Daemon(config, crawl_log_level=level, workers=args.workers).run()


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of workers from 1 to 64")
    return value


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    run_ = commands.add_parser(
        "run",
        help="the daemon: crawl every source on its schedule",
        description=(
            "Crawl every source on its schedule until SIGTERM or Ctrl-C (exit 0). Runs go to "
            "long-lived crawl worker processes, at most daemon.max_runs at once; a worker that "
            "dies is replaced and its runs recorded interrupted. SIGHUP re-reads the config. "
            "One log line per run start and end."
        ),
    )
    # Also accepted after `run`, so that `python scheduler.py --config PATH` works.
    run_.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    run_.add_argument(
        "--workers",
        type=_positive,
        default=None,
        metavar="N",
        help="crawl worker processes (default: daemon.workers in the config, 1)",
    )
    run_.add_argument("--log-format", choices=FORMATS, default="text", help="text (default) or json")
    run_.add_argument("-v", "--verbose", action="store_true", help="the crawls' Scrapy log at INFO")
    run_.add_argument("--debug", action="store_true", help="the daemon's own log at DEBUG")
    run_.set_defaults(func=run)
