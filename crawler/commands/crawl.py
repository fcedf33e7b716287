"""`newsmill crawl`: a one-off crawl of some sources, now."""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING

from common import startup
from crawler.commands.common import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, UsageError, load
from pipelines.extraction.pool import ExtractionPool

if TYPE_CHECKING:
    from crawler.config import Config, SourceConfig
    from crawler.locks import Lock


def run(args: argparse.Namespace) -> int:
    if args.all == bool(args.sources):
        raise UsageError("name one or more sources, or --all")
    startup.begin()  # until the crawl is set up (crawler.runner), or it fails before that
    # The extraction workers' start-up (imports, half a second of CPU) runs on another core
    # while this process loads the config, imports Scrapy and the database libraries, checks
    # the database, crawls robots.txt and the feeds: the first article finds them ready.
    pool = ExtractionPool().start()
    try:
        config = load(args)
        sources = list(config.sources.values()) if args.all else [config.source(n) for n in args.sources]
        return _crawl(args, config, sources, pool)
    finally:
        startup.end()
        # Waits for workers still starting, even after a config error: a worker left behind
        # would hold this process's output open after it exits.
        pool.shutdown()


def _crawl(
    args: argparse.Namespace, config: Config, sources: list[SourceConfig], pool: ExtractionPool
) -> int:
    from crawler.locks import source_lock
    from crawler.runner import CrawlResult, run_crawls
    from crawler.summary import print_summary
    from pipelines.storage import schema

    # An unreachable or outdated database stops the command here, with its own message (exit 1).
    schema.prepare(config.database)
    # The daemon's crawls take the same per-source locks: a source is never crawled twice at once.
    locks = {s.name: source_lock(config.database, s.name) for s in sources}
    busy = wait_for(locks, args.wait)
    for name in busy:
        print(f"newsmill: {name} is being crawled by {locks[name].holder()}; skipped", file=sys.stderr)
    results: list[CrawlResult] = []
    try:
        if sources := [s for s in sources if s.name not in busy]:
            results = run_crawls(
                config,
                sources,
                log_level="INFO" if args.verbose else "ERROR",
                progress_interval=0 if args.quiet else args.progress,
                pool=pool,
                trigger=args.trigger,
                NEWSMILL_SOURCE_LOCKED=True,
            )
    finally:
        for lock in locks.values():
            lock.release()
    if results:
        print_summary(results, sys.stdout)
    if any(r.status == "interrupted" for r in results):
        print(
            "newsmill: interrupted; running the same command again resumes "
            "(what was stored is kept and not downloaded again)",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    return EXIT_OK if not busy and all(r.status == "ok" for r in results) else EXIT_FAILED


def wait_for(locks: dict[str, Lock], wait: float) -> list[str]:
    """Take every lock, waiting up to `wait` seconds for those held elsewhere; the names of
    those still held when the wait is over. A crawl that waited finds stored what the other
    one stored, and fetches only what is left."""
    busy = [name for name, lock in locks.items() if not lock.acquire()]
    if busy and wait > 0:
        # Start-up speed is moot once waiting, and an hour of polling must not pile up garbage.
        startup.end()
        holders = ", ".join(f"{name} ({locks[name].holder()})" for name in busy)
        print(f"newsmill: waiting for another crawl of {holders} to end", file=sys.stderr)
        deadline = time.monotonic() + wait
        while busy and time.monotonic() < deadline:
            time.sleep(0.5)  # a lock held elsewhere gives no signal when freed: poll it
            busy = [name for name in busy if not locks[name].acquire()]
    return busy


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    crawl = commands.add_parser(
        "crawl",
        help="crawl sources once, now",
        description=(
            "Crawl the named sources (or --all) once. Prints progress while it runs and a summary "
            "at the end. A source another process is crawling (the daemon, another `newsmill crawl`) is "
            "waited for, then crawled. Exit 1 if a source could not be crawled, 130 if stopped by "
            "Ctrl-C (running it again resumes: what was stored is not fetched again)."
        ),
    )
    crawl.add_argument("sources", nargs="*", metavar="SOURCE", help="source names from the config")
    crawl.add_argument("--all", action="store_true", help="crawl every source in the config")
    crawl.add_argument(
        "--progress",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="seconds between progress lines (default 5)",
    )
    crawl.add_argument(
        "--wait",
        type=float,
        default=3600,
        metavar="SECONDS",
        help="how long to wait for a source another process is crawling (default 3600; 0: skip it, exit 1)",
    )
    crawl.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    crawl.add_argument("-v", "--verbose", action="store_true", help="Scrapy's log at INFO level")
    # What the run record says started it: a cluster's job crawls through this command too.
    crawl.add_argument("--trigger", default="cli", help=argparse.SUPPRESS)
    crawl.set_defaults(func=run)
