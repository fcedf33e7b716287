"""`newsmill sources`: the configured sources, their schedules, next and last run."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from crawler.commands.common import EXIT_OK, load
from crawler.table import print_table, when


def store_is_postgres(database_url: str) -> bool:
    from sqlalchemy.engine import make_url

    return make_url(database_url).get_backend_name() == "postgresql"


def run(args: argparse.Namespace) -> int:
    from crawler.cluster.status import runs_by_source as cluster_runs
    from crawler.daemon.status import read_status
    from pipelines.storage.database import Store
    from pipelines.storage.resume import resume_state

    config = load(args)
    cluster = store_is_postgres(config.database)
    store = Store(config.database)
    try:
        store.create_schema()
        last = store.last_runs()
        resume = resume_state(store, {s.name: s.seeds() for s in config.sources.values()})
        jobs = cluster_runs(store) if cluster else {}
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
                # Where the next crawl resumes from.
                "articles": resume[name]["articles"],
                "other_urls": resume[name]["other_urls"],
                "revised": resume[name]["revised"],
                "newest_article_at": resume[name]["newest_article_at"],
                "validators": resume[name]["validators"],
            }
        )
        if cluster:  # the cluster's queue: runs waiting, and being crawled by a worker
            records[-1].update(jobs.get(name, {"queued": 0, "running": 0}))
    if args.json:
        json.dump(records, sys.stdout, indent=2)
        print()
        return EXIT_OK
    rows = [
        [
            r["source"],
            r["schedule"] or "-",
            when(r["next_run"]),
            *([str(r["queued"]), str(r["running"])] if cluster else []),
            when(r["last_run"]),
            r["status"] or "-",
            str(r["articles"]),
            when(r["newest_article_at"]),
            str(len(r["validators"])),
        ]
        for r in records
    ]
    headers = ["source", "schedule", "next run", *(["queued", "running"] if cluster else []), "last run",
               "status", "articles", "newest", "validators"]
    print_table(headers, rows, sys.stdout)
    if not daemon and cluster:
        print("(no leader of the cluster schedules from this machine: next runs unknown here)",
              file=sys.stderr)
    elif not daemon:
        print("(no daemon is running on this database: no next runs)", file=sys.stderr)
    return EXIT_OK


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    sources = commands.add_parser(
        "sources",
        help="the sources, their schedules, next and last run",
        description="The configured sources: schedule, next run (while the daemon runs), last run and "
        "its status, and where the next crawl resumes from: articles stored, the newest article's "
        "date, the feed/sitemap validators (ETag, Last-Modified) kept for conditional requests. On "
        "PostgreSQL also each source's runs queued for the cluster's workers and running on one.",
    )
    sources.add_argument("--json", action="store_true", help="a JSON list of source objects")
    sources.set_defaults(func=run)
