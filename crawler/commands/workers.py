"""`newsmill workers`: the cluster's live workers, their heartbeats and the jobs they run."""

from __future__ import annotations

import argparse
import json
import sys

from crawler.commands.common import EXIT_OK, load
from crawler.table import print_table, when


def _job(job: dict[str, object]) -> str:
    args = job["args"]
    assert isinstance(args, dict)
    what = str(args.get("source"))
    if "part_id" in args:
        what = f"part {args['part_id']} of {what}"
    return f"{str(job['task']).split(':')[-1]} {what} (job {job['id']})"


def run(args: argparse.Namespace) -> int:
    from crawler.cluster.app import require_postgres
    from crawler.cluster.status import workers
    from crawler.cluster.worker import STALLED_AFTER
    from pipelines.storage import schema
    from pipelines.storage.database import Store

    config = load(args)
    require_postgres(config.database)
    schema.prepare(config.database)
    store = Store(config.database)
    try:
        found = workers(store, STALLED_AFTER)
    finally:
        store.close()
    if args.json:
        json.dump(found, sys.stdout, indent=2)
        print()
        return EXIT_OK
    rows = [
        [str(w["id"]), f"{w['host'] or '?'}:{w['pid'] or '?'}", when(w["started_at"]),
         f"{w['seconds_since_heartbeat']:.0f}s ago", "; ".join(_job(j) for j in w["jobs"]) or "-"]
        for w in found["live"]
    ]
    print_table(("id", "worker", "started", "heartbeat", "running"), rows, sys.stdout)
    queued = ", ".join(f"{n} {task.split(':')[-1]}" for task, n in sorted(found["queued"].items()))
    print(f"{len(found['live'])} live worker(s); queued: {queued or 'nothing'}")
    if found["stalled"]:
        print(f"{len(found['stalled'])} worker(s) silent for over {STALLED_AFTER:.0f}s, taken for dead: "
              "their jobs go back to the queue")
    return EXIT_OK


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    workers = commands.add_parser(
        "workers",
        help="the cluster's live workers and what they run (PostgreSQL only)",
        description="The cluster's live workers: host and pid, last heartbeat, jobs in flight; jobs queued.",
    )
    workers.add_argument("--json", action="store_true", help="as JSON")
    workers.set_defaults(func=run)
