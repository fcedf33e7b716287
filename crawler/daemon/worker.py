"""`python -m crawler.daemon.worker`: one scheduled crawl of one source, in a process of its own.

The daemon starts this for every run and writes the job to its stdin, pickled: the config
the daemon validated (not config.yaml as it is on disk now, which may have been edited and
not yet reloaded, or broken), the source's name and the trigger. A fresh process per run
means a fresh Scrapy reactor, and whatever a crawl does to its process (a crash, a hang, a
leak) ends with it.

Exit status: 0 the crawl ran ok, 1 it did not (its run record says why), 75 the source is
being crawled by another process right now and this run did nothing.
"""

from __future__ import annotations

import pickle
import sys
from typing import Any

from crawler.config import Config
from crawler.locks import source_lock
from pipelines.storage import schema
from pipelines.storage.schema import DatabaseError

EXIT_LOCKED = 75  # EX_TEMPFAIL: try again later
# Log lines as "LEVEL|logger|message", so the daemon can log them again at their level.
LOG_FORMAT = "%(levelname)s|%(name)s|%(message)s"


def job(config: Config, source: str, *, trigger: str = "schedule", log_level: str = "ERROR") -> bytes:
    """What the daemon writes to a worker's stdin."""
    return pickle.dumps({"config": config, "source": source, "trigger": trigger, "log_level": log_level})


def run(config: Config, name: str, trigger: str, log_level: str) -> int:
    source = config.source(name)
    try:
        # Before the lock, which lives in the database too; the daemon logs this line.
        schema.prepare(config.database)
    except DatabaseError as exc:
        print(f"{name}: {exc}", file=sys.stderr, flush=True)
        return 1
    lock = source_lock(config.database, name)
    if not lock.acquire():
        print(f"{name} is being crawled by {lock.holder()}", file=sys.stderr, flush=True)
        return EXIT_LOCKED
    try:
        from crawler.runner import run_crawls

        overrides: dict[str, Any] = {"LOG_FORMAT": LOG_FORMAT, "NEWSMILL_SOURCE_LOCKED": True}
        if source.max_runtime:
            # The crawl's own, gentle stop at max_runtime: it closes and records "timeout"
            # with its counts. The daemon kills it if it cannot even do that.
            overrides["CLOSESPIDER_TIMEOUT"] = source.max_runtime.total_seconds()
        results = run_crawls(
            config, [source], trigger=trigger, log_level=log_level, progress_interval=0, **overrides
        )
    finally:
        lock.release()
    return 0 if results and results[0].status == "ok" else 1


def main() -> int:
    spec = pickle.load(sys.stdin.buffer)  # from the daemon, our parent: trusted input
    return run(spec["config"], spec["source"], spec["trigger"], spec["log_level"])


if __name__ == "__main__":
    sys.exit(main())
