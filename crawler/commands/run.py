"""`newsmill run` (and `python scheduler.py`): the daemon, until SIGTERM or Ctrl-C."""

from __future__ import annotations

import argparse
import logging

from crawler.commands.common import UsageError, load
from crawler.daemon.logs import FORMATS, setup_logging


def run(args: argparse.Namespace) -> int:
    from sqlalchemy.engine import make_url

    config = load(args)
    cluster = make_url(config.database).get_backend_name() == "postgresql"
    if args.workers == 0 and not cluster:
        raise UsageError(
            "--workers 0 (scheduling only) needs a cluster over PostgreSQL: on "
            f"{make_url(config.database).get_backend_name()} the daemon runs its crawls itself"
        )
    setup_logging(args.log_format, logging.DEBUG if args.debug else logging.INFO)
    if cluster:
        # One local `newsmill worker`, which runs daemon.workers crawl processes itself.
        workers = 1 if args.workers is None else args.workers
        from crawler.cluster.scheduler import ClusterDaemon

        return ClusterDaemon(config, workers=workers).run()
    from crawler.daemon.service import Daemon

    level = "INFO" if args.verbose else "ERROR"
    return Daemon(config, crawl_log_level=level, workers=args.workers or config.daemon.workers).run()


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 64:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of workers from 0 to 64")
    return value


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    run_ = commands.add_parser(
        "run",
        help="the daemon: crawl every source on its schedule",
        description=(
            "Crawl every source on its schedule until SIGTERM or Ctrl-C (exit 0). Runs go to "
            "long-lived crawl worker processes, at most daemon.max_runs at once; a worker that "
            "dies is replaced and its runs recorded interrupted. SIGHUP re-reads the config. "
            "One log line per run start and end. On PostgreSQL, a cluster's scheduler: each due "
            "run becomes a job in the cluster's queue, taken by any `newsmill worker` and by the "
            "N local workers this command starts (--workers 0: scheduling only); of several "
            "`newsmill run` on one database, one schedules and the others stand by, taking over "
            "within seconds when it goes."
        ),
    )
    # Also accepted after `run`, so that `python scheduler.py --config PATH` works.
    run_.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    run_.add_argument(
        "--workers",
        type=_count,
        default=None,
        metavar="N",
        help="crawl worker processes (default: daemon.workers in the config, 1); on PostgreSQL, "
        "local `newsmill worker` processes (default 1), and 0 for scheduling only",
    )
    run_.add_argument("--log-format", choices=FORMATS, default="text", help="text (default) or json")
    run_.add_argument("-v", "--verbose", action="store_true",
                      help="the crawls' Scrapy log at INFO (one machine)")
    run_.add_argument("--debug", action="store_true", help="the daemon's own log at DEBUG")
    run_.set_defaults(func=run)
