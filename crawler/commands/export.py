"""`newsmill export`: the stored articles as JSON lines, CSV or Parquet."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from crawler.commands.common import EXIT_OK, UsageError, load


def run(args: argparse.Namespace) -> int:
    from crawler.export import export_articles

    config = load(args)
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
    if args.format == "parquet" and out is None:
        raise UsageError("--format parquet writes a file: give -o FILE")
    count = export_articles(
        config.database,
        args.format,
        out,
        source=args.source,
        since=since,
        with_duplicates=args.with_duplicates,
    )
    print(f"exported {count} articles" + (f" to {out}" if out else ""), file=sys.stderr)
    return EXIT_OK


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    export = commands.add_parser(
        "export",
        help="write the stored articles as JSON lines, CSV or Parquet",
        description="Write the stored articles, one record each.",
    )
    export.add_argument(
        "--format",
        choices=["jsonl", "csv", "parquet"],
        default="jsonl",
        help="jsonl (default), csv, or parquet (a file for pandas, polars, DuckDB: needs -o)",
    )
    export.add_argument("--source", metavar="NAME", help="only this source's articles")
    export.add_argument(
        "--since", metavar="DATE", help="only articles first seen at or after DATE (ISO 8601)"
    )
    export.add_argument(
        "--with-duplicates",
        action="store_true",
        help="one record per URL: copies and near-duplicates too, not only each story once",
    )
    export.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    export.set_defaults(func=run)
