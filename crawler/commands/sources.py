"""`newsmill sources`: the configured sources, their schedules, next and last run."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from crawler.commands.common import EXIT_OK, load
from crawler.table import print_table, when


def run(args: argparse.Namespace) -> int:
    from crawler.status import read_status
    from pipelines.database import Store

    config = load(args)
    store = Store(config.database)
    try:
        store.create_schema()
        last = store.last_runs()
    finally:
        store.close()
    # Next runs are known only to a running daemon, which writes them down for us.
    daemon = read_status(config.database) or {}
    scheduled: dict[str, Any] = daemon.get("sources", {})
    records = []
    for name, source in config.sources.items():
        run_ = last.get(name)
        records.append(
            {
                "source": name,
                "schedule": source.schedule,
                "next_run": scheduled.get(name, {}).get("next_run"),
                "last_run": run_.started_at.isoformat() if run_ else None,
                "last_finished": run_.finished_at.isoformat() if run_ and run_.finished_at else None,
                "status": run_.status if run_ else None,
                "last_run_id": run_.id if run_ else None,
            }
        )
    if args.json:
        json.dump(records, sys.stdout, indent=2)
        print()
        return EXIT_OK
    rows = [
        [r["source"], r["schedule"] or "-", when(r["next_run"]), when(r["last_run"]), r["status"] or "-"]
        for r in records
    ]
    print_table(["source", "schedule", "next run", "last run", "status"], rows, sys.stdout)
    if not daemon:
        print("(no daemon is running on this database: no next runs)", file=sys.stderr)
    return EXIT_OK


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    sources = commands.add_parser(
        "sources",
        help="the sources, their schedules, next and last run",
        description="The configured sources: schedule, next run (while the daemon runs), last run, status.",
    )
    sources.add_argument("--json", action="store_true", help="a JSON list of source objects")
    sources.set_defaults(func=run)
