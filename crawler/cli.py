"""`newsmill`: the command line. Config is loaded and validated here, once, and passed down.

Exit status: 0 done, 1 the work failed, 2 usage or config error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from crawler.config import Config, ConfigError, load_config

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

Command = Callable[[argparse.Namespace], int]


class UsageError(Exception):
    """Bad arguments that argparse cannot see by itself."""


def _config(args: argparse.Namespace) -> Config:
    return load_config(args.config)


def cmd_crawl(args: argparse.Namespace) -> int:
    from crawler.runner import run_crawls
    from crawler.summary import print_summary

    config = _config(args)
    if args.all == bool(args.sources):
        raise UsageError("name one or more sources, or --all")
    sources = list(config.sources.values()) if args.all else [config.source(n) for n in args.sources]
    results = run_crawls(
        config,
        sources,
        log_level="INFO" if args.verbose else "ERROR",
        progress_interval=0 if args.quiet else args.progress,
    )
    print_summary(results, sys.stdout)
    return EXIT_OK if all(r.status == "ok" for r in results) else EXIT_FAILED


def cmd_export(args: argparse.Namespace) -> int:
    from crawler.export import export_articles

    config = _config(args)
    since = None
    if args.since:
        try:
            since = datetime.fromisoformat(args.since)
        except ValueError:
            raise UsageError(f"--since {args.since!r} is not a date like 2024-03-05") from None
        since = since if since.tzinfo else since.replace(tzinfo=UTC)
    if args.source:
        config.source(args.source)
    out = Path(args.output) if args.output and args.output != "-" else None
    count = export_articles(config.database, args.format, out, source=args.source, since=since)
    print(f"exported {count} articles" + (f" to {out}" if out else ""), file=sys.stderr)
    return EXIT_OK


def cmd_extract(args: argparse.Namespace) -> int:
    from trafilatura.downloads import fetch_response

    from pipelines.extraction import extract_article

    target = args.target
    if Path(target).exists():
        html, url = Path(target).read_bytes(), None
    elif target.startswith(("http://", "https://")):
        response = fetch_response(target, decode=False)
        if response is None or response.status >= 400 or not response.data:
            status = response.status if response is not None else "no answer"
            print(f"newsmill: could not fetch {target}: {status}", file=sys.stderr)
            return EXIT_FAILED
        html, url = response.data, response.url
    else:
        raise UsageError(f"{target!r} is neither a file nor an http(s) URL")
    record = extract_article(html, url)
    json.dump(record.to_json(), sys.stdout, ensure_ascii=False, indent=2)
    print()
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="newsmill",
        description="Crawl news sources on a schedule, extract article text, store it deduplicated.",
    )
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="config file (default: $NEWSMILL_CONFIG or ./config.yaml)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    crawl = commands.add_parser("crawl", help="crawl sources once, now", description=(
        "Crawl the named sources (or --all) once. Prints progress while it runs and a summary "
        "at the end. Exit 1 if a source could not be crawled."))
    crawl.add_argument("sources", nargs="*", metavar="SOURCE", help="source names from the config")
    crawl.add_argument("--all", action="store_true", help="crawl every source in the config")
    crawl.add_argument("--progress", type=float, default=5.0, metavar="SECONDS",
                       help="seconds between progress lines (default 5)")
    crawl.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    crawl.add_argument("-v", "--verbose", action="store_true", help="Scrapy's log at INFO level")
    crawl.set_defaults(func=cmd_crawl)

    export = commands.add_parser("export", help="write the stored articles as JSON lines or CSV",
                                 description="Write the stored articles, one record each.")
    export.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
    export.add_argument("--source", metavar="NAME", help="only this source's articles")
    export.add_argument("--since", metavar="DATE",
                        help="only articles first seen at or after DATE (ISO 8601)")
    export.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    export.set_defaults(func=cmd_export)

    extract = commands.add_parser(
        "extract", help="run one page through extraction, print JSON",
        description="Fetch a URL (or read an HTML file) and print what extraction makes of it.")
    extract.add_argument("target", metavar="URL|FILE")
    extract.set_defaults(func=cmd_extract)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Command = args.func
    try:
        return func(args)
    except (ConfigError, UsageError) as exc:
        print(f"newsmill: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
