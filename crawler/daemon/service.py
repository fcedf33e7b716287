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

import contextlib
import logging
import os
import select
import signal
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler

from crawler.commands.common import EXIT_FAILED, EXIT_OK
from crawler.config import Config, ConfigError, SourceConfig, load_config
from crawler.daemon.dispatch import Dispatcher
from crawler.daemon.logs import fields
from crawler.daemon.status import status_path, write_status
from crawler.locks import daemon_lock, source_lock
from crawler.monitor.monitor import Monitor
from crawler.schedule import parse_schedule
from pipelines.storage.database import ABANDONED, Store
from pipelines.storage.models import utcnow

log = logging.getLogger("newsmill.daemon")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# A scheduled job only hands its source to the dispatcher, which never blocks: a few
# threads keep up with thousands of sources.
SCHEDULER_THREADS = 4
RECORD_TIMEOUT = 15.0  # seconds the workers' runs get to be recorded at shutdown
STATUS_REFRESH = 1.0  # seconds between looks at the workers and the status file
PRUNE_EVERY = 3600.0  # seconds between prunings of the run records past daemon.keep_runs


class Daemon:
    def __init__(self, config: Config, *, crawl_log_level: str = "ERROR", workers: int | None = None) -> None:
        self.config = config
        self.crawl_log_level = crawl_log_level
        self.store = Store(config.database)
        self.lock = daemon_lock(config.database)
        self.status_file = status_path(config.database)
        self.started_at = utcnow()
        self.scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(SCHEDULER_THREADS)},
            job_defaults={"coalesce": True, "max_instances": 1},
        )
        self.dispatcher = Dispatcher(
            config, self.store, workers=workers or config.daemon.workers, log_level=crawl_log_level
        )
        self._cond = threading.Condition()  # guards config, _stopping
        self._stopping = False
        self._last_status: dict[str, Any] | None = None
        self._write_end = -1
        self.monitor = Monitor(config)  # health, alerts, metrics: off the crawl path
        # Told of every run that ends (its record closed), on a worker's reader thread.
        self.dispatcher.listeners.append(lambda report: self.monitor.run_finished(report.source, self.config))
        self._pruned_at = -PRUNE_EVERY
        self._pruning: threading.Thread | None = None

    # -- lifetime ---------------------------------------------------------------------------

    def run(self) -> int:
        """Schedule until SIGTERM or SIGINT; 0 after a clean stop."""
        if not self.lock.acquire():
            log.error("another daemon is running on this database: %s", self.lock.holder())
            return EXIT_FAILED
        wakeup, previous = self._install_signals()
        try:
            self.store.create_schema()
            self._close_abandoned_runs()
            self.dispatcher.start()
            for source in self.config.sources.values():
                self._schedule(source, first_run_now=self.config.daemon.run_at_startup)
            self.scheduler.start()
            self.monitor.start(self.scheduler)
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
            self._serve(wakeup)
            self._stop(wakeup)
        finally:
            self._restore_signals(wakeup, previous)
            self.monitor.stop()
            self.status_file.unlink(missing_ok=True)
            self.store.close()
            self.lock.release()
        log.info("daemon stopped", extra=fields(event="daemon_stopped"))
        return EXIT_OK

    def _serve(self, wakeup: int) -> None:
        while True:
            for signum in _read_signals(wakeup, STATUS_REFRESH):
                if signum == signal.SIGHUP:
                    self.reload()
                elif signum in STOP_SIGNALS:
                    log.info(
                        "stopping on %s", signal.Signals(signum).name, extra=fields(event="daemon_stopping")
                    )
                    return
            self.dispatcher.check()
            self._refresh_status()
            self._prune()

    def _prune(self) -> None:
        """Now and then, in a thread of its own (a first pruning can take a while), the run
        records older than keep_runs go, but each source's last run and last failure."""
        if time.monotonic() - self._pruned_at < PRUNE_EVERY:
            return
        if self._pruning is not None and self._pruning.is_alive():
            return
        self._pruned_at = time.monotonic()
        cutoff = utcnow() - timedelta(seconds=self.config.daemon.keep_runs)

        def prune() -> None:
            try:
                removed = self.store.prune_runs(cutoff)
            except Exception as exc:
                log.error("run records not pruned: %s", exc)
                return
            if removed:
                log.info(
                    "pruned %d run records started before %s", removed, cutoff.isoformat(timespec="seconds"),
                    extra=fields(event="runs_pruned", removed=removed),
                )

        self._pruning = threading.Thread(target=prune, name="newsmill-prune", daemon=True)
        self._pruning.start()

    def _stop(self, wakeup: int) -> None:
        with self._cond:
            self._stopping = True
        self.scheduler.shutdown(wait=False)
        grace = self.config.daemon.grace_period
        running = self.dispatcher.in_flight()
        if running:
            log.info("asking %d running crawls to stop; grace period %gs", running, grace)
        self.dispatcher.stop_runs()
        deadline = time.monotonic() + grace
        while self.dispatcher.workers_alive() and time.monotonic() < deadline:
            remaining = deadline - time.monotonic()
            if any(s in STOP_SIGNALS for s in _read_signals(wakeup, min(0.2, max(remaining, 0)))):
                log.info("second stop signal: killing running crawls now")
                break
        if self.dispatcher.workers_alive():
            self.dispatcher.kill_all("still running after the grace period")
        if not self.dispatcher.wait_workers(RECORD_TIMEOUT):
            log.error("crawl workers still running after %gs; leaving them", RECORD_TIMEOUT)

    # -- the schedule -----------------------------------------------------------------------

    def _schedule(self, source: SourceConfig, *, first_run_now: bool) -> None:
        if source.schedule is None:
            return  # a source without a schedule is crawled from the command line only
        extra: dict[str, Any] = {"next_run_time": datetime.now(UTC)} if first_run_now else {}
        self.scheduler.add_job(
            self._crawl,
            parse_schedule(source.schedule, source.jitter),
            args=[source.name],
            id=source.name,
            name=source.name,
            misfire_grace_time=int(self.config.daemon.misfire_grace_time),
            replace_existing=True,
            **extra,
        )

    def _unschedule(self, name: str) -> None:
        with contextlib.suppress(JobLookupError):
            self.scheduler.remove_job(name)

    def reload(self) -> None:
        """SIGHUP: the config file as it is now, or, if it does not validate, no change."""
        old = self.config
        try:
            new = load_config(old.path)
        except ConfigError as exc:
            log.error(
                "config reload refused, still running the previous config: %s",
                exc,
                extra=fields(event="reload_refused"),
            )
            return
        if new.database != old.database:
            log.error(
                "config reload refused: the database changed; restart the daemon to switch",
                extra=fields(event="reload_refused"),
            )
            return
        added = sorted(new.sources.keys() - old.sources.keys())
        removed = sorted(old.sources.keys() - new.sources.keys())
        changed = sorted(
            n for n in new.sources.keys() & old.sources.keys() if new.sources[n] != old.sources[n]
        )
        with self._cond:
            self.config = new
        self.dispatcher.reconfigure(new)  # runs from now on read their source from here
        for name in removed:
            self._unschedule(name)  # a crawl of it already running finishes on its own
        for name in added:
            self._schedule(new.sources[name], first_run_now=new.daemon.run_at_startup)
        for name in new.sources.keys() & old.sources.keys():
            before, after = old.sources[name], new.sources[name]
            if (before.schedule, before.jitter) != (after.schedule, after.jitter) or (
                new.daemon.misfire_grace_time != old.daemon.misfire_grace_time
            ):
                # A run going on now still counts against max_instances: jobs are keyed by name.
                self._unschedule(name)
                self._schedule(after, first_run_now=before.schedule is None and new.daemon.run_at_startup)
        log.info(
            "config reloaded",
            extra=fields(
                event="reloaded",
                added=",".join(added) or None,
                removed=",".join(removed) or None,
                changed=",".join(changed) or None,
            ),
        )
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

    # -- signals and status -----------------------------------------------------------------

    def _install_signals(self) -> tuple[int, dict[signal.Signals, Any]]:
        read_end, write_end = os.pipe()
        os.set_blocking(write_end, False)
        signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
        previous = {s: signal.signal(s, _ignore) for s in (*STOP_SIGNALS, signal.SIGHUP)}
        self._write_end = write_end
        return read_end, previous

    def _restore_signals(self, read_end: int, previous: dict[signal.Signals, Any]) -> None:
        signal.set_wakeup_fd(-1)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        os.close(read_end)
        os.close(self._write_end)

    def _refresh_status(self) -> None:
        """Rewrite the status file for `newsmill sources` when the schedule has moved."""
        with self._cond:
            config = self.config
        running = self.dispatcher.running()
        jobs = {job.id: job for job in self.scheduler.get_jobs()}
        sources = {}
        for name, source in config.sources.items():
            job = jobs.get(name)
            next_run = getattr(job, "next_run_time", None)
            sources[name] = {
                "schedule": source.schedule,
                "next_run": next_run.astimezone(UTC).isoformat() if next_run else None,
                "running_pid": running.get(name),
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


def _ignore(_signum: int, _frame: Any) -> None:
    """The work happens in the main loop, which the wakeup fd wakes."""


def _read_signals(fd: int, timeout: float | None) -> list[int]:
    ready, _, _ = select.select([fd], [], [], timeout)
    return list(os.read(fd, 64)) if ready else []
