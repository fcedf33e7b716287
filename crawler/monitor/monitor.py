"""The daemon's monitoring behind three calls: `start()` once it schedules, `run_finished()`
after each run, `stop()` when it stops; in a cluster, `lead()` when its process becomes or
stops being the one that schedules.

Everything happens on a thread of its own, from the run records in the database: a call
returns at once, and nothing here can slow down or fail a crawl. After each run it judges
the source's health, sends the alerts it calls for, and counts the run in the metrics."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from crawler.config import Config
from crawler.monitor.alerts import Alerts
from crawler.monitor.metrics import Metrics, MetricsServer
from crawler.monitor.webhooks import Webhooks
from pipelines.storage.database import Store
from pipelines.storage.health import History

if TYPE_CHECKING:
    from apscheduler.events import JobSubmissionEvent
    from apscheduler.schedulers.base import BaseScheduler

log = logging.getLogger("newsmill.monitor")

FLUSH = 2.0  # seconds queued webhook POSTs get at shutdown: a stop stays prompt


class Monitor:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.metrics = Metrics()
        self.webhooks = Webhooks(self.metrics.alert)
        self.server: MetricsServer | None = None
        self.scheduler: BaseScheduler | None = None
        self.role: Callable[[], str] | None = None
        self._store: Store | None = None
        self._alerts: Alerts | None = None
        self._history = History()  # each source's recent runs, topped up after each run
        self._due: dict[str, datetime] = {}  # per source, when its run in progress was due
        # (source, config) after a run; (None, None): runs so far are history (a new leader).
        self._queue: queue.SimpleQueue[tuple[str | None, Config | None] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._work, name="monitor", daemon=True)
        self._stopping = False

    # -- the daemon's calls ---------------------------------------------------------------

    def start(self, scheduler: BaseScheduler | None = None, role: Callable[[], str] | None = None) -> None:
        """The daemon schedules from now on: serve metrics, learn due times from `scheduler`.
        `role`, in a cluster: what /healthz says this process does ("scheduling", "standing by")."""
        self.scheduler = scheduler
        self.role = role
        self.metrics.leader.set(0 if role is not None else 1)
        if scheduler is not None:
            from apscheduler.events import EVENT_JOB_SUBMITTED

            scheduler.add_listener(self._submitted, EVENT_JOB_SUBMITTED)
        address = self.config.daemon.metrics
        if address:
            host, _, port = address.rpartition(":")
            try:
                self.server = MetricsServer(
                    self.metrics, host, int(port), self.scheduling, self.config.daemon.metrics_token
                ).start()
            except OSError as exc:  # the crawls matter more than their metrics
                log.error("metrics not served: cannot listen on %s: %s", address, exc.strerror or exc)
        self._thread.start()

    def run_finished(self, source: str, config: Config | None = None) -> None:
        """A run of `source` has finished and its record is closed; `config`, the daemon's
        current one (after a reload). Returns at once."""
        self._queue.put((source, config))

    def lead(self, leading: bool) -> None:
        """In a cluster: this process schedules from now on (runs finished before are history,
        counted by the leader of the time), or no longer."""
        self.metrics.leader.set(1 if leading else 0)
        if leading:
            self._queue.put((None, None))

    def stop(self) -> None:
        self._stopping = True
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(FLUSH)
        self.webhooks.close(FLUSH)
        if self.server is not None:
            self.server.stop()

    def scheduling(self) -> bool | str:
        if self._stopping:
            return False
        if self.role is not None:
            return self.role()
        return self.scheduler.running if self.scheduler is not None else True

    # -- the monitor's thread -------------------------------------------------------------

    def _submitted(self, event: JobSubmissionEvent) -> None:
        if event.scheduled_run_times:
            self._due[event.job_id] = event.scheduled_run_times[-1]

    def _work(self) -> None:
        try:
            self._store = Store(self.config.database)
            self._alerts = Alerts(self.config.alerts, self._store, self.webhooks)
            self._first_look()
            while (item := self._queue.get()) is not None:
                source, config = item
                if source is None:
                    self._history = History()
                    self._first_look()
                    continue
                try:
                    if config is not None and config is not self.config:
                        self._reconfigure(config)
                    self._after_run(source)
                except Exception:
                    log.exception("monitoring of %s's run failed; the crawls go on", source)
        finally:
            if self._store is not None:
                self._store.close()

    def _first_look(self) -> None:
        """Health and last success of every source as the database has them: the gauges mean
        something from the first scrape, and runs from before are not counted again."""
        assert self._store is not None
        for name, source in self.config.sources.items():
            try:
                health = self._history.health(self._store, name, source.health)
                self.metrics.health_state(name, health.status)
                if health.last_good:
                    self.metrics.last_success_at(name, health.last_good)
            except Exception:
                log.exception("could not read %s's health", name)

    def _reconfigure(self, config: Config) -> None:
        assert self._store is not None
        gone = self.config.sources.keys() - config.sources.keys()
        self.metrics.forget(gone)
        for name in gone:
            self._history.forget(name)
        self.config = config
        self._alerts = Alerts(config.alerts, self._store, self.webhooks)

    def _after_run(self, name: str) -> None:
        assert self._store is not None and self._alerts is not None
        source = self.config.sources.get(name)
        if source is None:
            return
        # One read of the runs recorded since the last look: judged, and counted.
        health = self._history.health(self._store, name, source.health)
        due = self._due.pop(name, None)
        for run in self._history.added:
            self.metrics.run(run)
            if due is not None and run.trigger in ("schedule", "cluster"):
                self.metrics.started_late(name, due, run.started_at)
                due = None
        self.metrics.health_state(name, health.status)
        self._alerts.health_changed(health)
        for run in self._history.added:
            self._alerts.run_finished(name, run.started_at, run.new)
