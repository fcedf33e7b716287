"""The daemon (`newsmill run`, `python scheduler.py`): every source crawled on its schedule.

APScheduler 3 decides when; each run is a child process (crawler.daemon.worker) that this module
starts, watches and, when it must, kills. The daemon itself never imports Scrapy, so
nothing a crawl does to its process (a crash, a hang, a leak, a reactor that cannot be
restarted) reaches the daemon or the other sources.

Signals reach the main thread through a self-pipe (signal.set_wakeup_fd); it acts on them
outside any handler, so a signal arriving in the middle of a lock-holding call cannot
deadlock the daemon:
  SIGTERM, SIGINT  stop scheduling, ask running crawls to stop, kill those still running
                   after the grace period, record them interrupted, exit 0
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
from datetime import UTC, datetime
from functools import partial
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler

from crawler.commands.common import EXIT_FAILED, EXIT_OK
from crawler.config import Config, ConfigError, SourceConfig, load_config
from crawler.daemon import worker
from crawler.daemon.child import CrawlProcess, describe_exit
from crawler.daemon.logs import fields
from crawler.daemon.status import status_path, write_status
from crawler.locks import daemon_lock, source_lock
from crawler.monitor.monitor import Monitor
from crawler.schedule import parse_schedule
from pipelines.storage.database import ABANDONED, Store
from pipelines.storage.models import CrawlRun, utcnow

log = logging.getLogger("newsmill.daemon")
crawl_log = logging.getLogger("newsmill.crawl")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# A run is a thread waiting on a child process: cheap. The pool only has to be larger
# than the number of sources, so that no source waits for another's thread.
MAX_THREADS = 256
RECORD_TIMEOUT = 15.0  # seconds the runs' threads get to write their records at shutdown
STATUS_REFRESH = 1.0  # seconds between looks at whether the status file needs rewriting


class Daemon:
    def __init__(self, config: Config, *, crawl_log_level: str = "ERROR") -> None:
        self.config = config
        self.crawl_log_level = crawl_log_level
        self.store = Store(config.database)
        self.lock = daemon_lock(config.database)
        self.status_file = status_path(config.database)
        self.started_at = utcnow()
        self.scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(MAX_THREADS)},
            job_defaults={"coalesce": True, "max_instances": 1},
        )
        self._cond = threading.Condition()  # guards config, _stopping, _children, _active
        self._stopping = False
        self._children: dict[str, CrawlProcess] = {}
        self._active = 0
        self._last_status: dict[str, Any] | None = None
        self._write_end = -1
        self.monitor = Monitor(config)  # health, alerts, metrics: off the crawl path

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
            self._refresh_status()

    def _stop(self, wakeup: int) -> None:
        with self._cond:
            # Before the scheduler stops: a run it has just handed to a thread must see
            # this and not start a crawl nobody would stop.
            self._stopping = True
            children = list(self._children.values())
        self.scheduler.shutdown(wait=False)
        grace = self.config.daemon.grace_period
        if children:
            log.info("asking %d running crawls to stop; grace period %gs", len(children), grace)
        for child in children:
            child.terminate()
        deadline = time.monotonic() + grace
        while self._running_count() and time.monotonic() < deadline:
            remaining = deadline - time.monotonic()
            if any(s in STOP_SIGNALS for s in _read_signals(wakeup, min(0.2, max(remaining, 0)))):
                log.info("second stop signal: killing running crawls now")
                break
        with self._cond:
            leftovers = list(self._children.values())
        for child in leftovers:
            log.warning("killing %s (pid %d): still running after the grace period", child.source, child.pid)
            child.kill()
        with self._cond:
            self._cond.wait_for(lambda: self._active == 0, timeout=RECORD_TIMEOUT)

    def _running_count(self) -> int:
        with self._cond:
            return self._active

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
            self.config = new  # runs from now on read their source from here
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
        """One scheduled run of a source, on a scheduler thread: start, watch, record."""
        before = self._last_run_id(name)
        with self._cond:
            config = self.config
            source = config.sources.get(name)
            if self._stopping or source is None:
                return
            child = CrawlProcess.spawn(
                config, name, log_level=self.crawl_log_level, on_line=partial(_relay, name)
            )
            self._children[name] = child
            self._active += 1
        try:
            log.info(
                "run started",
                extra=fields(event="run_started", source=name, trigger="schedule", pid=child.pid),
            )
            limit = None
            if source.max_runtime is not None:
                limit = source.max_runtime.total_seconds() + config.daemon.grace_period
            timed_out = child.wait(limit) is None
            if timed_out:
                log.warning("killing %s (pid %d): over max_runtime", name, child.pid)
                child.kill()
            code = child.finish()
            self._conclude(name, source, child, code, timed_out, before)
            self.monitor.run_finished(name, config)
        finally:
            with self._cond:
                if self._children.get(name) is child:
                    del self._children[name]
                self._active -= 1
                self._cond.notify_all()

    def _last_run_id(self, name: str) -> int:
        runs = self.store.runs(source=name, limit=1)
        return runs[0].id if runs else 0

    def _conclude(
        self, name: str, source: SourceConfig, child: CrawlProcess, code: int, timed_out: bool, before: int
    ) -> None:
        """Close whatever the crawl could not close itself, then log the run's end."""
        if code == worker.EXIT_LOCKED:
            reason = child.tail[-1] if child.tail else "locked by another process"
            log.info("run skipped: %s", reason, extra=fields(event="run_skipped", source=name))
            return
        with self._cond:
            stopping = self._stopping
        if timed_out:
            status = "timeout"
            error = f"killed: still running {self.config.daemon.grace_period:g}s past max_runtime"
        elif stopping:
            status = "interrupted"
            killed = code == -signal.SIGKILL
            error = "killed: did not stop within the grace period" if killed else "the daemon stopped"
        else:
            status = "failed"
            last = child.tail[-1] if child.tail else ""
            error = f"crawl process {describe_exit(code)}" + (f": {last}" if last else "")
        # The daemon is the one scheduler on this database and runs a source once at a time,
        # so scheduled runs of this source newer than `before` are this run's.
        mine = [
            r for r in self.store.runs(source=name, limit=10) if r.id > before and r.trigger == "schedule"
        ]
        for run in mine:
            if run.status == "running":
                self.store.finish_run(run.id, status, {}, error)
        if not mine:  # it died before it could open its record: the run still happened
            self.store.finish_run(self.store.start_run(name, "schedule"), status, {}, error)
        run = self.store.runs(source=name, limit=1)[0]
        _log_finished(run, child.seconds)

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
            running = {n: c.pid for n, c in self._children.items()}
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


def _relay(source: str, line: str) -> None:
    """A crawl's log line, logged again by the daemon with the source it came from."""
    level, _, rest = line.partition("|")
    name, _, message = rest.partition("|")
    number = logging.getLevelName(level)
    if isinstance(number, int) and message:
        crawl_log.log(number, message, extra=fields(source=source, logger_name=name))
    else:  # a traceback line, or something printed
        crawl_log.warning(line, extra=fields(source=source))


def _log_finished(run: CrawlRun, seconds: float) -> None:
    if run.finished_at and run.started_at:
        seconds = (run.finished_at - run.started_at).total_seconds()
    log.log(
        logging.INFO if run.status == "ok" else logging.WARNING,
        "run finished",
        extra=fields(
            event="run_finished",
            source=run.source,
            run_id=run.id,
            status=run.status,
            seconds=round(seconds, 1),
            pages=run.pages,
            new=run.new,
            duplicates=run.duplicates,
            revised=run.revised,
            skipped=dict(run.skipped or {}),
            errors=dict(run.errors or {}),
            error=run.error,
        ),
    )
