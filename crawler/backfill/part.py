"""Crawl one part of a backfill, in this process, and mark it done, failed or pending again.

The same code runs for `newsmill backfill` on one machine (a process per part) and for a
cluster's worker (a job per part): the part's row says how far it got, wherever it ran.
"""

from __future__ import annotations

import os
import sys

from common.processes import this_process
from crawler.config import Config
from crawler.runner import CrawlResult, run_crawls
from pipelines.storage import backfill, schema
from pipelines.storage.database import Store

# A crawl status, as the part's.
_STATUS = {"ok": backfill.DONE, "interrupted": backfill.PENDING}


def worker_name() -> str:
    """Who crawls the part: the cluster worker that launched this process, or this process."""
    return os.environ.get("NEWSMILL_WORKER") or this_process()


def crawl_part(
    config: Config, part_id: int, *, wait: float, log_level: str = "ERROR", progress_interval: float = 0
) -> tuple[str, CrawlResult | None]:
    """The part's status once crawled (done, failed, pending when interrupted) and the crawl's
    result; ("done", None) for a part done already, ("busy", None) when its source stayed
    locked by another crawl for `wait` seconds."""
    from crawler.commands.crawl import wait_for
    from crawler.locks import source_lock

    schema.prepare(config.database)
    store = Store(config.database)
    try:
        part = backfill.get(store, part_id)
        if part is None:
            raise LookupError(f"no backfill part {part_id} in {schema.describe(config.database)}")
        if part.status == backfill.DONE:
            return backfill.DONE, None
        source = config.source(part.source)
        # One crawl of a source at a time, whoever runs it: the daemon, `newsmill crawl`, a part.
        lock = source_lock(config.database, source.name)
        if wait_for({source.name: lock}, wait):
            return "busy", None
        try:
            backfill.start(store, part_id, worker_name())
            try:
                (result,) = run_crawls(
                    config,
                    [source],
                    trigger="backfill",
                    log_level=log_level,
                    progress_interval=progress_interval,
                    NEWSMILL_SOURCE_LOCKED=True,
                    NEWSMILL_WORKER_NAME=worker_name(),
                    NEWSMILL_BACKFILL_PART={"url": part.url, "window": part.window},
                )
            except BaseException:
                backfill.finish(store, part_id, backfill.PENDING, {}, "its crawl stopped before the end")
                raise
            status = _STATUS.get(result.status, backfill.FAILED)
            counts = {"pages": result.pages, "new": result.new, "duplicates": result.duplicates,
                      "errors": result.errors}
            error = result.error or (None if status != backfill.FAILED else result.status)
            backfill.finish(store, part_id, status, counts, error)
            return status, result
        finally:
            lock.release()
    finally:
        store.close()


def report(part_id: int, status: str, result: CrawlResult | None) -> None:
    """One line on stdout for the part: what its crawl found."""
    if result is None:
        print(f"part {part_id}: {status}", flush=True)
        return
    print(
        f"part {part_id}: {status} in {result.seconds:.1f}s: pages {result.pages}, new {result.new}, "
        f"duplicates {result.duplicates}, skipped {sum(result.skipped.values())}, "
        f"errors {sum(result.errors.values())}" + (f" ({result.error})" if result.error else ""),
        file=sys.stdout,
        flush=True,
    )
