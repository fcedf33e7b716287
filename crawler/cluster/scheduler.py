"""`newsmill run` on PostgreSQL: the cluster's scheduler, and by default a worker of it.

APScheduler is the clock, as on one machine (crawler.daemon.clock); a due source becomes a job
in the cluster's queue (crawler.cluster.app.defer_crawl), which any `newsmill worker` on any
machine takes. Several `newsmill run` may run on one database: the one holding the daemon lock
leads and schedules, the others stand by and take over when it goes (crawler.cluster.leadership).
Every one of them, leader or not, runs `--workers` local workers (crawler.cluster.local); with
`--workers 0` it only schedules.

The leader also keeps what the single-machine daemon keeps: it hears of every run that ends,
wherever it ran, from the run records closed since its last look (crawler.cluster.finished),
logs it and hands it to the monitor (health, alerts, metrics); it prunes old run records and
writes the status file `newsmill sources` reads. (A dead worker's runs are the workers' care:
crawler.cluster.worker.)

Signals, taken by the main thread (crawler.daemon.signals):
  SIGTERM, SIGINT  stop scheduling and give the lead up at once (a standby takes over), stop the
                   local workers (their runs get the grace period), exit 0
  SIGHUP           re-read config.yaml (a config that does not validate changes nothing); the
                   leader reschedules, the local workers are replaced by fresh ones that read it
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from typing import TYPE_CHECKING, Any

from crawler.cluster.finished import FinishedRuns
from crawler.cluster.leadership import Leadership
from crawler.cluster.local import LocalWorkers
from crawler.commands.common import EXIT_OK
from crawler.config import Config
from crawler.daemon.clock import Clock, reread
from crawler.daemon.logs import fields
from crawler.daemon.signals import STOP_SIGNALS, SignalPipe
from crawler.daemon.status import remove_status, status_path, write_status
from crawler.daemon.upkeep import Pruner
from crawler.monitor.monitor import Monitor
from pipelines.storage.database import Store
from pipelines.storage.models import CrawlRun, utcnow

if TYPE_CHECKING:
    from procrastinate import App

log = logging.getLogger("newsmill.daemon")

TICK = 1.0  # seconds between two turns of the main loop (signals, roles, workers, status)
LOOK_EVERY = 2.0  # seconds between the leader's looks at the runs closed


class ClusterDaemon:
    def __init__(self, config: Config, *, workers: int) -> None:
        self.config = config
        self.store = Store(config.database)
        self.leadership = Leadership(config.database)
        self.clock = Clock(self._due)
        self.local = LocalWorkers(config.path, workers, config.daemon.grace_period)
        self.monitor = Monitor(config)
        self.finished = FinishedRuns(self.store)
        self.pruner = Pruner(self.store)
        self.signals = SignalPipe()
        self.status_file = status_path(config.database)
        self.started_at = utcnow()
        self._guard = threading.Lock()  # config, app, stopping: read by the scheduler's threads
        self._app: App | None = None  # open while leading
        self._stopping = False
        self._leading = False
        self._looked = 0.0
        self._last_status: dict[str, Any] | None = None

    def role(self) -> str:
        return "scheduling" if self._leading else "standing by"

    # -- lifetime -------------------------------------------------------------------------------

    def run(self) -> int:
        """Schedule or stand by until SIGTERM or SIGINT; 0 after a clean stop."""
        self.signals.open()
        try:
            self.store.create_schema()
            self.local.start()
            self.clock.start()  # with no source until this process leads
            self.monitor.start(self.clock.scheduler, role=self.role)
            self.leadership.start()
            log.info(
                "daemon started",
                extra=fields(event="daemon_started", pid=os.getpid(), config=str(self.config.path),
                             sources=len(self.config.sources), workers=self.local.count, cluster=True),
            )
            self._serve()
            self._stop()
        finally:
            self.signals.close()
            self.leadership.stop()
            self._close_app()
            self.monitor.stop()
            remove_status(self.status_file, os.getpid())
            self.store.close()
        log.info("daemon stopped", extra=fields(event="daemon_stopped"))
        return EXIT_OK

    def _serve(self) -> None:
        while True:
            for signum in self.signals.read(TICK):
                if signum == signal.SIGHUP:
                    self.reload()
                elif signum in STOP_SIGNALS:
                    name = signal.Signals(signum).name
                    log.info("stopping on %s", name, extra=fields(event="daemon_stopping"))
                    return
            if self.leadership.changed.is_set():
                self.leadership.changed.clear()
                self._take_role(self.leadership.leading)
            self.local.check()
            if self._leading:
                self._lead()

    def _stop(self) -> None:
        with self._guard:
            self._stopping = True
        self.clock.shutdown()
        if self._leading:
            self._stand_by("stopping")
        self.leadership.stop()  # the lead goes now: a standby takes over while the workers finish
        self.local.stop()
        deadline = time.monotonic() + self.local.stop_timeout()
        while not self.local.wait(0):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.local.kill("still running after the grace period")
                break
            if any(s in STOP_SIGNALS for s in self.signals.read(min(0.2, remaining))):
                self.local.kill("a second stop signal")
                break

    # -- roles ----------------------------------------------------------------------------------

    def _take_role(self, leading: bool) -> None:
        if leading and not self._leading:
            try:
                self._become_leader()
            except Exception as exc:  # the database went away meanwhile: let another try
                log.error("cannot schedule: %s; standing by", exc)
                self._close_app()
                self.leadership.step_down()  # which says so, through `changed`
        elif not leading and self._leading:
            self._stand_by("lost the lead")
        elif not leading:
            self._announce_standby()

    def _become_leader(self) -> None:
        from crawler.cluster.app import make_app

        app = make_app(self.config.database)
        app.open()
        with self._guard:
            self._app = app
            config = self.config
        self.finished.start()
        self._leading = True
        self.monitor.lead(True)
        self.clock.schedule_all(config, first_run_now=config.daemon.run_at_startup)
        log.info("leading: this process schedules the sources",
                 extra=fields(event="role", role="leader", pid=os.getpid(), sources=len(config.sources)))
        self._refresh_status()

    def _stand_by(self, why: str) -> None:
        self._leading = False
        self.clock.clear()
        self.monitor.lead(False)
        self._close_app()
        remove_status(self.status_file, os.getpid())
        self._last_status = None
        if why != "stopping":
            self._announce_standby()

    def _announce_standby(self) -> None:
        log.info("standing by: another newsmill run schedules; this one takes over if it goes",
                 extra=fields(event="role", role="standby", pid=os.getpid()))

    def _close_app(self) -> None:
        with self._guard:
            app, self._app = self._app, None
        if app is not None:
            try:
                app.close()
            except Exception as exc:
                log.debug("closing the queue's connections: %s", exc)

    # -- the leader's work ----------------------------------------------------------------------

    def _due(self, name: str) -> None:
        """A source is due (on a scheduler thread): a run of it goes in the queue, unless one
        waits there already."""
        from crawler.cluster.app import defer_crawl

        with self._guard:
            app = None if self._stopping else self._app
            source = self.config.sources.get(name)
        if app is None or source is None:
            return
        try:
            job_id = defer_crawl(app, source)
        except Exception as exc:
            not_queued = fields(event="run_not_queued", source=name)
            log.error("run of %s not queued: %s", name, exc, extra=not_queued)
            return
        if job_id is None:
            log.debug("run of %s already queued", name, extra=fields(event="run_coalesced", source=name))
        else:
            log.info("run queued", extra=fields(event="run_queued", source=name, job_id=job_id))

    def _lead(self) -> None:
        now = time.monotonic()
        if now - self._looked >= LOOK_EVERY:
            self._looked = now
            try:
                closed = self.finished.look()
            except Exception as exc:  # the database away for a while: the next look catches up
                log.warning("could not look for finished runs: %s", exc)
                closed = []
            with self._guard:
                config = self.config
            for run in closed:
                _log_finished(run)
            for source in dict.fromkeys(run.source for run in closed):
                self.monitor.run_finished(source, config)
        self._refresh_status()
        self.pruner.maybe_prune(self.config.daemon.keep_runs)

    def reload(self) -> None:
        """SIGHUP: the config file as it is now, or, if it does not validate, no change."""
        old = self.config
        new = reread(old)
        if new is None:
            return
        with self._guard:
            self.config = new
        changes = self.clock.apply(old, new) if self._leading else {}
        if new != old:
            self.local.renew()  # fresh workers read the new config; the old ones finish their runs
        log.info("config reloaded", extra=fields(event="reloaded", **changes))
        self._refresh_status()

    def _refresh_status(self) -> None:
        """The leader's schedule, for `newsmill sources` on this machine."""
        if not self._leading:
            return
        next_runs = self.clock.next_runs()
        status = {
            "pid": os.getpid(),
            "started_at": self.started_at.isoformat(),
            "config": str(self.config.path),
            "role": "leader",
            "sources": {
                name: {"schedule": source.schedule, "next_run": next_runs.get(name), "running_pid": None}
                for name, source in self.config.sources.items()
            },
        }
        if status != self._last_status:
            write_status(self.status_file, status)
            self._last_status = status


def _log_finished(run: CrawlRun) -> None:
    """A run some worker finished, logged as the single-machine daemon logs its own."""
    record = run.as_dict()
    seconds = None
    if run.finished_at and run.started_at:
        seconds = (run.finished_at - run.started_at).total_seconds()
    keys = ("source", "trigger", "status", "pages", "new", "duplicates", "revised", "skipped", "errors",
            "error", "worker")
    values = {key: record.get(key) for key in keys}
    log.log(
        logging.INFO if run.status == "ok" else logging.WARNING,
        "run finished",
        extra=fields(event="run_finished", run_id=run.id, seconds=seconds, **values),
    )
