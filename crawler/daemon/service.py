"""The daemon (`newsmill run`, `python scheduler.py`): every source crawled on its schedule.

APScheduler 3 decides when a source is due; crawler.daemon.dispatch decides when it runs
(at most `max_runs` at once, each source once at a time) and on which of the long-lived
crawl worker processes (crawler.daemon.worker) it started at start-up. The daemon itself
never imports Scrapy, so nothing a crawl does to its worker (a crash, a hang, a leak)
reaches the daemon: the worker's runs are recorded and the worker replaced.

Signals reach the main thread through a self-pipe (signal.set_wakeup_fd); it acts on them
outside any handler, so a signal arriving in the middle of a lock-holding call cannot
deadlock the daemon:
  SIGTERM, SIGINT  stop scheduling, ask running crawls to stop, kill the workers still
                   running after the grace period, record their runs interrupted, exit 0
  SIGHUP           re-read config.yaml; a config that does not validate changes nothing
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from typing import Any

from crawler.commands.common import EXIT_FAILED, EXIT_OK
from crawler.config import Config
from crawler.daemon.clock import Clock, reread
from crawler.daemon.dispatch import Dispatcher
from crawler.daemon.logs import fields
from crawler.daemon.signals import STOP_SIGNALS, SignalPipe
from crawler.daemon.status import status_path, write_status
from crawler.daemon.upkeep import Pruner
from crawler.locks import daemon_lock, source_lock
from crawler.monitor.monitor import Monitor
from pipelines.storage.database import ABANDONED, Store
from pipelines.storage.models import utcnow

log = logging.getLogger("newsmill.daemon")

RECORD_TIMEOUT = 15.0  # seconds the workers' runs get to be recorded at shutdown
STATUS_REFRESH = 1.0  # seconds between looks at the workers and the status file


class Daemon:
    def __init__(self, config: Config, *, crawl_log_level: str = "ERROR", workers: int | None = None) -> None:
        self.config = config
        self.crawl_log_level = crawl_log_level
        self.store = Store(config.database)
        self.lock = daemon_lock(config.database)
        self.status_file = status_path(config.database)
        self.started_at = utcnow()
        self.clock = Clock(self._crawl)
        self.dispatcher = Dispatcher(
            config, self.store, workers=workers or config.daemon.workers, log_level=crawl_log_level
        )
        self._cond = threading.Condition()  # guards config, _stopping
        self._stopping = False
        self._last_status: dict[str, Any] | None = None
        self.signals = SignalPipe()
        self.monitor = Monitor(config)  # health, alerts, metrics: off the crawl path
        # Told of every run that ends (its record closed), on a worker's reader thread.
        self.dispatcher.listeners.append(lambda report: self.monitor.run_finished(report.source, self.config))
        self.pruner = Pruner(self.store)

    # -- lifetime ---------------------------------------------------------------------------

    def run(self) -> int:
        """Schedule until SIGTERM or SIGINT; 0 after a clean stop."""
        if not self.lock.acquire():
            log.error("another daemon is running on this database: %s", self.lock.holder())
            return EXIT_FAILED
        self.signals.open()
        try:
            self.store.create_schema()
            self._close_abandoned_runs()
            self.dispatcher.start()
            self.clock.schedule_all(self.config, first_run_now=self.config.daemon.run_at_startup)
            self.clock.start()
            self.monitor.start(self.clock.scheduler)
            log.info(
                "daemon started",
                extra=fields(
                    event="daemon_started",
                    pid=os.getpid(),
                    config=str(self.config.path),
                    sources=len(self.config.sources),
                    workers=self.dispatcher.size,
                    max_runs=self.config.daemon.max_runs,
                ),
            )
            self._serve()
            self._stop()
        finally:
            self.signals.close()
            self.monitor.stop()
            self.status_file.unlink(missing_ok=True)
            self.store.close()
            self.lock.release()
        log.info("daemon stopped", extra=fields(event="daemon_stopped"))
        return EXIT_OK

    def _serve(self) -> None:
        while True:
            for signum in self.signals.read(STATUS_REFRESH):
                if signum == signal.SIGHUP:
                    self.reload()
                elif signum in STOP_SIGNALS:
                    log.info(
                        "stopping on %s", signal.Signals(signum).name, extra=fields(event="daemon_stopping")
                    )
                    return
            self.dispatcher.check()
            self._refresh_status()
            self.pruner.maybe_prune(self.config.daemon.keep_runs)

    def _stop(self) -> None:
        with self._cond:
            self._stopping = True
        self.clock.shutdown()
        grace = self.config.daemon.grace_period
        running = self.dispatcher.in_flight()
        if running:
            log.info("asking %d running crawls to stop; grace period %gs", running, grace)
        self.dispatcher.stop_runs()
        deadline = time.monotonic() + grace
        while self.dispatcher.workers_alive() and time.monotonic() < deadline:
            remaining = deadline - time.monotonic()
            if any(s in STOP_SIGNALS for s in self.signals.read(min(0.2, max(remaining, 0)))):
                log.info("second stop signal: killing running crawls now")
                break
        if self.dispatcher.workers_alive():
            self.dispatcher.kill_all("still running after the grace period")
        if not self.dispatcher.wait_workers(RECORD_TIMEOUT):
            log.error("crawl workers still running after %gs; leaving them", RECORD_TIMEOUT)

    # -- the schedule ---------------------------------------------------------------------------

    def reload(self) -> None:
        """SIGHUP: the config file as it is now, or, if it does not validate, no change."""
        old = self.config
        new = reread(old)
        if new is None:
            return
        with self._cond:
            self.config = new
        self.dispatcher.reconfigure(new)  # runs from now on read their source from here
        changes = self.clock.apply(old, new)
        log.info("config reloaded", extra=fields(event="reloaded", **changes))
        self._refresh_status()

    # -- one run ----------------------------------------------------------------------------

    def _crawl(self, name: str) -> None:
        """A source is due (on a scheduler thread): the dispatcher runs it when it can."""
        with self._cond:
            if self._stopping:
                return
        self.dispatcher.submit(name, "schedule")

    def _close_abandoned_runs(self) -> None:
        """Runs left "running" by crawls that died (with a daemon that died, say): closed,
        unless still going somewhere."""
        for name in self.config.sources:
            with source_lock(self.config.database, name) as lock:
                if not lock.acquire():
                    continue  # its crawl outlived that daemon and is still running: it will close it
                for run_id in self.store.close_abandoned_runs(name):
                    log.warning("closed run %d of %s: %s", run_id, name, ABANDONED)

    # -- status ---------------------------------------------------------------------------------

    def _refresh_status(self) -> None:
        """Rewrite the status file for `newsmill sources` when the schedule has moved."""
        with self._cond:
            config = self.config
        running = self.dispatcher.running()
        next_runs = self.clock.next_runs()
        sources = {
            name: {
                "schedule": source.schedule, "next_run": next_runs.get(name), "running_pid": running.get(name)
            }
            for name, source in config.sources.items()
        }
        status = {
            "pid": os.getpid(),
            "started_at": self.started_at.isoformat(),
            "config": str(config.path),
            "sources": sources,
        }
        if status != self._last_status:
            write_status(self.status_file, status)
            self._last_status = status

