"""`newsmill backfill`: a source's sitemap history, crawled in parts that survive a stop."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import TYPE_CHECKING

from crawler.commands.common import EXIT_FAILED, EXIT_OK, UsageError, load
from crawler.table import print_table

if TYPE_CHECKING:
    from crawler.backfill.window import Window
    from crawler.config import Config, SourceConfig
    from pipelines.storage.database import Store


def _window(args: argparse.Namespace) -> Window:
    from crawler.backfill.window import Window, parse_day

    try:
        since = parse_day(args.since) if args.since else None
        until = parse_day(args.until) if args.until else None
        return Window(since, until)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    from pipelines.storage import schema
    from pipelines.storage.database import Store

    config = load(args)
    source = config.source(args.source)
    window = _window(args)
    if args.part is not None:
        return _crawl_part(args, config)
    if not source.sitemaps:
        raise UsageError(f"source {source.name!r} has no sitemaps to backfill (add `sitemaps:` to it)")
    schema.prepare(config.database)
    store = Store(config.database)
    try:
        if args.status:
            return _status(store, source.name, window if (args.since or args.until) else None, args.json)
        return _backfill(args, config, source, window, store)
    finally:
        store.close()


def _backfill(
    args: argparse.Namespace, config: Config, source: SourceConfig, window: Window, store: Store
) -> int:
    from crawler.backfill import local
    from crawler.backfill.plan import plan

    print(f"[{source.name}] reading its sitemaps ({window.describe()})", file=sys.stderr, flush=True)
    planned = plan(config, source, window, store)
    for error in planned.errors:
        print(f"[{source.name}] {error}", file=sys.stderr)
    print(
        f"[{source.name}] {planned.parts} sitemap(s) to crawl ({planned.added} new), {planned.ruled_out} "
        f"ruled out by their date, from {planned.indexes} sitemap index(es)",
        file=sys.stderr,
        flush=True,
    )
    if store.engine.dialect.name == "postgresql" and not args.local:
        return _through_cluster(args, config, source, window, store)
    code = local.crawl_parts(config, source, window, store, progress=0 if args.quiet else args.progress)
    _status(store, source.name, window, as_json=False)
    if code == local.INTERRUPTED:
        print(f"interrupted: run the same command again to resume (`newsmill backfill {source.name}"
              f"{_window_args(window)}`)", file=sys.stderr)
        return code
    if planned.parts == 0 and planned.errors:
        return EXIT_FAILED
    return code


def _through_cluster(
    args: argparse.Namespace, config: Config, source: SourceConfig, window: Window, store: Store
) -> int:
    """Queue a job per part not done for the cluster's workers, then follow them to the end."""
    from crawler.cluster.app import defer_parts, make_app
    from crawler.cluster.status import parts_left, workers
    from crawler.cluster.worker import STALLED_AFTER
    from pipelines.storage import backfill

    left = [backfill.PENDING, backfill.RUNNING, backfill.FAILED]
    todo = backfill.parts(store, source.name, window.key, left)
    app = make_app(config.database)
    with app.open():
        queued = defer_parts(app, source, [p.id for p in todo])
    print(f"[{source.name}] {queued} part(s) queued for the cluster's workers, {len(todo) - queued} queued "
          "before", file=sys.stderr, flush=True)
    if not workers(store, STALLED_AFTER)["live"]:
        print(f"[{source.name}] no live worker: start `newsmill worker` (or backfill with --local)",
              file=sys.stderr, flush=True)
    if args.detach:
        print(f"follow it with `newsmill backfill {source.name} --status`", file=sys.stderr)
        return EXIT_OK
    try:
        while parts_left(store, source.name):
            time.sleep(args.progress if args.progress > 0 else 5.0)
            if not args.quiet:
                _progress_line(store, source.name, window)
    except KeyboardInterrupt:
        print(f"stopped following; the parts go on in the cluster (`newsmill backfill {source.name} "
              "--status`)", file=sys.stderr)
        return 130
    _status(store, source.name, window, as_json=False)
    found = backfill.progress(store, source.name, window.key)
    return EXIT_OK if found and found[0].parts.get(backfill.DONE, 0) == found[0].total else EXIT_FAILED


def _progress_line(store: Store, source: str, window: Window) -> None:
    from pipelines.storage import backfill

    for p in backfill.progress(store, source, window.key):
        counts = ", ".join(f"{p.parts.get(s, 0)} {s}" for s in backfill.STATUSES)
        print(f"[{source}] parts: {counts}; pages {p.pages}, new {p.new}", file=sys.stderr, flush=True)


def _window_args(window: Window) -> str:
    since = f" --since {window.since}" if window.since else ""
    return since + (f" --until {window.until}" if window.until else "")


def _status(store: Store, source: str, window: Window | None, as_json: bool) -> int:
    """Parts done / running / pending / failed per backfill of the source, and what they stored."""
    from pipelines.storage import backfill

    found = backfill.progress(store, source, window.key if window else None)
    stored = store.count_articles(source)
    if as_json:
        json.dump({"source": source, "articles_stored": stored, "backfills": [p.as_dict() for p in found]},
                  sys.stdout, indent=2)
        print()
        return EXIT_OK
    if not found:
        print(f"{source}: no backfill recorded" + (f" for {window.describe()}" if window else ""))
        return EXIT_OK
    columns = ("source", "dates", "parts", *backfill.STATUSES, "pages", "new", "duplicates", "errors")
    rows = []
    for p in found:
        counts = p.as_dict()["parts"]
        rows.append([
            p.source, p.window, str(p.total), *(str(counts[s]) for s in backfill.STATUSES),
            str(p.pages), str(p.new), str(p.duplicates), str(p.errors),
        ])
    print_table(columns, rows, sys.stdout)
    print(f"{source}: {stored} article(s) stored in all")
    return EXIT_OK


def _crawl_part(args: argparse.Namespace, config: Config) -> int:
    from crawler.backfill.part import crawl_part, report
    from pipelines.storage import backfill

    try:
        status, result = crawl_part(
            config, args.part, wait=args.wait, log_level="INFO" if args.verbose else "ERROR",
            progress_interval=0 if args.quiet else args.progress,
        )
    except LookupError as exc:
        raise UsageError(str(exc)) from None
    report(args.part, status, result)
    return EXIT_OK if status == backfill.DONE else EXIT_FAILED


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser(
        "backfill",
        help="crawl a source's sitemap history, resumably",
        description=(
            "Crawl what a source's sitemaps list (robots.txt, sitemap indexes, child and news sitemaps), "
            "limited to --since / --until. Child sitemaps whose lastmod is before --since are not "
            "fetched; entries dated out of range are not downloaded. Each child sitemap is a part, "
            "recorded in the database and marked done when crawled: running the command again resumes "
            "(parts done and articles stored are skipped), and so does Ctrl-C. On PostgreSQL the parts are "
            "jobs for the cluster's workers (`newsmill worker`), followed here until done, unless --local. "
            "Exit 1 if a part failed."
        ),
    )
    parser.add_argument("source", metavar="SOURCE", help="a source name from the config")
    parser.add_argument("--since", metavar="DATE", help="first day wanted (YYYY-MM-DD)")
    parser.add_argument("--until", metavar="DATE", help="last day wanted (YYYY-MM-DD, included)")
    parser.add_argument("--status", action="store_true",
                        help="show the backfill's parts (done, running, pending, failed), what they stored")
    parser.add_argument("--json", action="store_true", help="with --status: as JSON")
    parser.add_argument("--progress", type=float, default=5.0, metavar="SECONDS",
                        help="seconds between progress lines of a part's crawl (default 5)")
    parser.add_argument("--wait", type=float, default=3600, metavar="SECONDS",
                        help="how long a part waits for another crawl of the source to end (default 3600)")
    parser.add_argument("--local", action="store_true",
                        help="on PostgreSQL: crawl the parts here, not through the cluster's workers")
    parser.add_argument("--detach", action="store_true",
                        help="on PostgreSQL: queue the parts for the cluster's workers and exit at once")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    parser.add_argument("-v", "--verbose", action="store_true", help="Scrapy's log at INFO level")
    # Crawl one recorded part in this process: what each part's process runs.
    parser.add_argument("--part", type=int, help=argparse.SUPPRESS)
    parser.set_defaults(func=run)
