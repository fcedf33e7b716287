"""What goes between whoever decides that a source is due and a crawl worker that runs it.

A job is a source's name, why it runs (its trigger) and when it was due; the worker knows the
config. A report is the run record the worker made, with the worker's pid and how many runs
it has served. The daemon sends jobs to its own workers over a socket; a cluster's queue can
hand the same jobs to workers on other machines.

Messages, pickled (multiprocessing.connection), daemon to worker:
    ("init", Init)        first, once: the config and how to log
    ("config", Config)    a reloaded config: runs from now on read their source from it
    ("run", Job)          run this
    ("cancel", job_id)    stop this run (recorded "interrupted"); it reports as any run does
    ("stop",)             stop every run (recorded "interrupted"), then exit
worker to daemon:
    ("ready", pid)                  set up: Scrapy, the database, the extraction pool
    ("fatal", message)              cannot crawl at all (an outdated database, say); exits 1
    ("started", job_id, run_id)     holds the source's lock, its run record is open
    ("skipped", job_id, reason)     not run: the source is being crawled elsewhere, or is gone
    ("finished", job_id, RunReport) the run is over and recorded
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from crawler.config import Config


@dataclass(frozen=True, slots=True)
class Job:
    id: int
    source: str
    trigger: str  # schedule | cli | ...
    due: datetime


@dataclass(frozen=True, slots=True)
class Init:
    config: Config
    log_level: str = "ERROR"
    # The name run records give the worker ("host:pid"); None: the crawl process's own.
    worker_name: str | None = None
    # Its launcher gone, the worker dies at once with its runs (a cluster's worker: the runs go
    # to other machines, which must not find them still crawling here) instead of stopping
    # them gracefully (the daemon's, whose runs are simply due again later).
    die_with_parent: bool = False
    # Processes of the worker's extraction pool (-1: one per core). The daemon's workers share
    # the cores: two workers with a pool per core each would run twice as many processes,
    # and hold their memory, for the same CPU.
    extract_workers: int = -1


@dataclass(slots=True)
class RunReport:
    """A finished run as its run record has it, and who ran it."""

    job_id: int
    run_id: int | None
    source: str
    trigger: str
    status: str
    seconds: float
    pages: int = 0
    new: int = 0
    duplicates: int = 0
    revised: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    worker_pid: int | None = None
    worker_runs: int = 0  # runs this worker process has finished, this one included

    def fields(self) -> dict[str, Any]:
        """As the daemon logs it."""
        return {
            "source": self.source,
            "run_id": self.run_id,
            "status": self.status,
            "seconds": round(self.seconds, 2),
            "pages": self.pages,
            "new": self.new,
            "duplicates": self.duplicates,
            "revised": self.revised,
            "skipped": dict(self.skipped),
            "errors": dict(self.errors),
            "error": self.error,
            "worker_pid": self.worker_pid,
            "worker_runs": self.worker_runs,
        }
