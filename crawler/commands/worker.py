"""`newsmill worker`: a crawl worker of a cluster over PostgreSQL (procrastinate's queue)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from crawler.commands.common import EXIT_OK, UsageError, load


def run(args: argparse.Namespace) -> int:
    from crawler.cluster.app import require_postgres
    from crawler.cluster.worker import serve, worker_name
    from pipelines.storage import schema

    if args.concurrency < 1:
        raise UsageError("--concurrency must be at least 1")
    config = load(args)
    require_postgres(config.database)
    schema.prepare(config.database)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    print(f"newsmill worker {worker_name()}: taking jobs from {schema.describe(config.database)}",
          file=sys.stderr, flush=True)
    asyncio.run(serve(config, concurrency=args.concurrency))
    return EXIT_OK


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    worker = commands.add_parser(
        "worker",
        help="a crawl worker of a cluster (PostgreSQL only)",
        description=(
            "Take crawl jobs from the cluster's queue in the configured PostgreSQL database: runs of "
            "sources and parts of backfills (`newsmill backfill`). Start any number, on any machines, "
            "each with the same config. One crawl of a site (a host) runs at a time across the cluster, "
            "so its per_domain and delay hold however its sources are spread over workers. A "
            "worker that dies (kill -9, a lost machine) is noticed by the others within seconds and its "
            "jobs run again. SIGTERM / Ctrl-C: no new job, the running ones get daemon.grace_period "
            "seconds to end, then stop and go back to the queue. Exit 2 on SQLite."
        ),
    )
    worker.add_argument("--concurrency", type=int, default=4, metavar="N",
                        help="jobs this worker runs at once (default 4): runs of sources share its "
                             "long-lived crawl process(es) (daemon.workers), each backfill part has a "
                             "process of its own")
    worker.set_defaults(func=run)
