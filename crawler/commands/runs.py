"""`newsmill runs`: crawl-run history, newest first."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from crawler.commands.common import EXIT_OK, UsageError, load
from crawler.table import print_table, when


def run(args: argparse.Namespace) -> int:
    from pipelines.storage.database import Store

    config = load(args)
    if args.limit < 1:
        raise UsageError("--limit must be at least 1")
    store = Store(config.database)
    try:
        store.create_schema()
        records: list[dict[str, Any]] = [
            r.as_dict() for r in store.runs(source=args.source, limit=args.limit)
        ]
    finally:
        store.close()
    if args.json:
        json.dump(records, sys.stdout, indent=2)
        print()
        return EXIT_OK
    rows = [
        [
            str(r["id"]),
            r["source"],
            r["trigger"],
            when(r["started_at"]),
            when(r["finished_at"]),
            r["status"],
            str(r["pages"]),
            str(r["new"]),
            str(r["duplicates"]),
            str(r["revised"]),
            str(sum(r["skipped"].values())),
            str(sum(r["errors"].values())),
            r["worker"] or "",
            r["error"] or "",
        ]
        for r in records
    ]
    columns = [
        "id",
        "source",
        "trigger",
        "started",
        "finished",
        "status",
        "pages",
        "new",
        "duplicates",
        "revised",
        "skipped",
        "errors",
        "worker",
        "error",
    ]
    print_table(columns, rows, sys.stdout)
    return EXIT_OK


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    runs = commands.add_parser(
        "runs",
        help="crawl-run history",
        description=(
            "Crawl runs, newest first: source, trigger, started, finished, status, counts and the "
            "worker (host:pid) that ran each."
        ),
    )
    runs.add_argument("--source", metavar="NAME", help="only this source's runs")
    runs.add_argument("--limit", type=int, default=20, metavar="N", help="at most N runs (default 20)")
    runs.add_argument("--json", action="store_true", help="a JSON list of run objects")
    runs.set_defaults(func=run)
