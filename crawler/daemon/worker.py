"""`python -m crawler.daemon.worker FD`: a long-lived crawl worker process of the daemon.

Started once by the daemon (crawler.daemon.workers) and fed jobs over the socket FD
(crawler.daemon.jobs has the messages). It imports Scrapy, checks the database's schema,
opens the database engine and starts the extraction pool once, then runs each job as a
Scrapy crawl in its running asyncio reactor, many at once (crawler.runner.CrawlHost). A run
takes the source's lock (crawler.locks) and opens its run record before it starts, and
reports the record when it is over.

A run that raises is recorded "failed" and nothing else notices. What kills the process
(a segfault, the OOM killer, kill -9) is the daemon's to see: it records this worker's
runs "interrupted" and starts another. When the daemon sends "stop", or goes (its end of the
socket closes), the running crawls are stopped, recorded "interrupted", and the worker exits;
a cluster's worker (Init.die_with_parent) instead dies at once when its `newsmill worker`
goes, since that worker's jobs are about to run again on another machine.

Log lines go to stderr as "LEVEL|logger|source|message", so the daemon can log them again at
their level, with the source they came from.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from crawler.daemon.jobs import Init, Job, RunReport

if TYPE_CHECKING:
    from crawler.config import Config
    from crawler.locks import Lock
    from crawler.runner import CrawlHost, CrawlResult

LOG_FORMAT = "%(levelname)s|%(name)s|%(newsmill_source)s|%(message)s"


class _SourceTag(logging.Filter):
    """Names the source a log record is about: Scrapy's records carry the spider."""

    def filter(self, record: logging.LogRecord) -> bool:
        spider = getattr(record, "spider", None)
        source = getattr(spider, "source", None)
        record.newsmill_source = getattr(source, "name", "")
        return True


def setup_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(_SourceTag())
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)  # as log lines, which the daemon relays at their level


class Worker:
    """The reactor side: jobs in, runs started, reports out. Runs on the reactor thread."""

    def __init__(self, conn: Connection, host: CrawlHost, config: Config, name: str | None = None) -> None:
        from common.processes import this_process

        self.conn = conn
        self.host = host
        self.config = config
        self.pid = os.getpid()
        self.name = name or this_process()  # as run records name their worker
        self.finished = 0
        self.running: dict[int, int | None] = {}  # job id -> run id
        self.stopping = False
        self._send_lock = threading.Lock()

    def send(self, *message: Any) -> None:
        try:
            with self._send_lock:
                self.conn.send(message)
        except OSError:
            self.shutdown()  # the daemon is gone

    def handle(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "run":
            self.start(message[1])
        elif kind == "cancel":
            run_id = self.running.get(message[1])
            if run_id is not None:
                self.host.stop(run_id)
        elif kind == "config":
            self.config = message[1]
        elif kind == "stop":
            self.shutdown()

    def start(self, job: Job) -> None:
        from sqlalchemy.exc import SQLAlchemyError

        from crawler.locks import source_lock

        source = self.config.sources.get(job.source)
        if self.stopping or source is None:
            self.send("skipped", job.id, "stopping" if self.stopping else "no longer in the config")
            return
        lock = source_lock(self.config.database, job.source, engine=self.host.lock_engine)
        if not lock.acquire():
            self.send("skipped", job.id, f"{job.source} is being crawled by {lock.holder()}")
            return
        try:
            run_id = self.host.store.start_run(job.source, job.trigger, self.name)
        except SQLAlchemyError as exc:
            lock.release()
            self._report(job, None, None, f"database unavailable: {exc}")
            return
        self.running[job.id] = run_id
        self.send("started", job.id, run_id)
        running = self.host.crawl(self.config, source, run_id=run_id, trigger=job.trigger)
        running.addCallback(self._finished, job, run_id, lock)

    def _finished(self, result: CrawlResult, job: Job, run_id: int, lock: Lock) -> None:
        from sqlalchemy.exc import SQLAlchemyError

        from pipelines import stats

        try:
            if result.status == "failed" and result.error:
                # A crawl that raised before its recorder could close the record; a record
                # already closed is left as it is.
                counts = stats.counts({})
                self.host.store.finish_run(run_id, "failed", counts, result.error)
        except SQLAlchemyError as exc:
            logging.getLogger(__name__).error("run %d of %s left open: %s", run_id, job.source, exc)
        finally:
            lock.release()
        self._report(job, run_id, result)

    def _report(self, job: Job, run_id: int | None, result: CrawlResult | None, error: str = "") -> None:
        self.running.pop(job.id, None)
        self.finished += 1
        report = RunReport(
            job_id=job.id,
            run_id=run_id,
            source=job.source,
            trigger=job.trigger,
            status=result.status if result else "failed",
            seconds=result.seconds if result else 0.0,
            pages=result.pages if result else 0,
            new=result.new if result else 0,
            duplicates=result.duplicates if result else 0,
            revised=result.revised if result else 0,
            skipped=dict(result.skipped) if result else {},
            errors=dict(result.errors) if result else {},
            error=result.error if result else error,
            worker_pid=self.pid,
            worker_runs=self.finished,
        )
        self.send("finished", job.id, report)
        if self.stopping and not self.running:
            self._exit()

    def shutdown(self) -> None:
        """Stop every run gracefully; exit once they are recorded."""
        if self.stopping:
            return
        self.stopping = True
        if not self.running:
            self._exit()
            return
        self.host.stop()

    def _exit(self) -> None:
        reactor = _reactor()
        if reactor.running:
            reactor.stop()


def _reactor() -> Any:
    """Twisted's reactor, installed by main(); its interfaces do not type its methods."""
    from twisted.internet import reactor

    return reactor


def _read_jobs(conn: Connection, worker: Worker, die_with_parent: bool) -> None:
    """The daemon's messages, handed to the reactor thread; the daemon gone is a stop."""
    reactor = _reactor()
    while True:
        try:
            message = conn.recv()  # from the daemon, our parent: trusted input
        except (EOFError, OSError):
            if die_with_parent:
                # This process leads its own group (the launcher made it a session): the
                # extraction pool goes with it, and the database drops the source locks.
                os.killpg(os.getpgrp(), signal.SIGKILL)
            reactor.callFromThread(worker.shutdown)
            return
        reactor.callFromThread(worker.handle, message)


def main(argv: list[str]) -> int:
    conn = Connection(int(argv[0]))
    init: Init = conn.recv()[1]
    setup_logging(init.log_level)
    from scrapy.utils.reactor import install_reactor

    install_reactor("twisted.internet.asyncioreactor.AsyncioSelectorReactor")
    reactor = _reactor()

    from common import startup
    from crawler.runner import CrawlHost
    from pipelines.storage import schema
    from pipelines.storage.schema import DatabaseError

    try:
        schema.prepare(init.config.database)
    except DatabaseError as exc:
        conn.send(("fatal", str(exc)))
        return 1
    host = CrawlHost(
        init.config.database,
        log_level=init.log_level,
        extract_workers=init.extract_workers,
        runs=init.config.daemon.max_runs,
    )
    worker = Worker(conn, host, init.config, init.worker_name)
    # SIGTERM (from whoever, not the daemon: it sends "stop") stops gracefully as well.
    signal.signal(signal.SIGTERM, lambda *_: reactor.callFromThread(worker.shutdown))
    reader = threading.Thread(target=_read_jobs, args=(conn, worker, init.die_with_parent),
                              name="newsmill-jobs", daemon=True)
    reader.start()
    startup.settle()  # what was set up lives as long as the process: out of the collector's way
    worker.send("ready", worker.pid)
    try:
        reactor.run(installSignalHandlers=False)
    finally:
        host.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
