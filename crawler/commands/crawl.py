"""`newsmill crawl`: a one-off crawl of some sources, now."""

from __future__ import annotations

import argparse
import sys

from crawler.commands.common import EXIT_FAILED, EXIT_OK, UsageError, load
from crawler.locks import source_lock


def run(args: argparse.Namespace) -> int:
    from crawler.runner import CrawlResult, run_crawls
    from crawler.summary import print_summary
    from pipelines import schema

    config = load(args)
    if args.all == bool(args.sources):
        raise UsageError("name one or more sources, or --all")
    sources = list(config.sources.values()) if args.all else [config.source(n) for n in args.sources]
    # An unreachable or outdated database stops the command here, with its own message (exit 1).
    schema.prepare(config.database)
    # The daemon's crawls take the same per-source locks: a source is never crawled twice at once.
    locks = {s.name: source_lock(config.database, s.name) for s in sources}
    busy = [name for name, lock in locks.items() if not lock.acquire()]
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
            )
    finally:
        for lock in locks.values():
            lock.release()
    if results:
        print_summary(results, sys.stdout)
    return EXIT_OK if not busy and all(r.status == "ok" for r in results) else EXIT_FAILED


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    crawl = commands.add_parser(
        "crawl",
        help="crawl sources once, now",
        description=(
            "Crawl the named sources (or --all) once. Prints progress while it runs and a summary "
            "at the end. Exit 1 if a source could not be crawled."
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
    crawl.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    crawl.add_argument("-v", "--verbose", action="store_true", help="Scrapy's log at INFO level")
    crawl.set_defaults(func=run)
