"""The daemon's runs between "due" and "recorded": a queue in due order, at most
`daemon.max_runs` in flight, each source once at a time, sent to long-lived crawl workers.

APScheduler (crawler.daemon.service) only says when a source is due; this decides when it
runs and where:
- A source due while it waits or runs is coalesced: one more run once the current one ends,
  never two at once, never lost.
- Runs wait, earliest due first, while `max_runs` are in flight.
- Each source goes to one worker, chosen by a hash of its site (the host of its first seed):
  sources on one host share that worker's download slot for the host, and so its
  per_domain and delay (crawler.downloader.HostSlots).
- A worker that dies (segfault, OOM killer, kill -9) has its runs recorded "interrupted"
  (they run again when next due) and is replaced; one that crashes at start is retried with
  a growing pause. A worker is recycled (replaced by a fresh one while it finishes its runs)
  after `recycle_runs` runs or above `recycle_memory` MiB.
- A run still going `grace_period` + RUNTIME_SLACK seconds past its max_runtime (its worker
  could not stop it: say, a page that sends extraction into a loop) has its worker killed.

Whoever wants to know about finished runs (health, alerts, metrics) adds a callable to
`Dispatcher.listeners`: it gets every RunReport, on a worker's reader thread. Whoever wants
one run's report (a cluster's job, crawler.cluster.jobs) asks with `run()` and gets a future.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import socket
import threading
import time
import zlib
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from common.urls import host_of, site_key
from crawler.config import Config, SourceConfig
from crawler.daemon.jobs import Init, Job, RunReport
from crawler.daemon.logs import fields
from crawler.daemon.workers import WorkerProcess, describe_exit
from pipelines.extraction.pool import default_workers
from pipelines.storage.database import Store

log = logging.getLogger("newsmill.daemon")
crawl_log = logging.getLogger("newsmill.crawl")

RUNTIME_SLACK = 10.0  # seconds past max_runtime + grace_period before the worker is killed
RESPAWN_FIRST, RESPAWN_MAX = 1.0, 60.0  # seconds between restarts of a worker that keeps dying
STABLE_AFTER = 30.0  # seconds a worker must live for its restarts to count as isolated
MEMORY_CHECK = 10.0  # seconds between looks at the workers' memory


@dataclass(slots=True)
class Flight:
    job: Job
    worker: WorkerProcess
    sent: float  # monotonic
    deadline: float | None  # monotonic: past it, the worker is killed
    run_id: int | None = None
    began: float | None = None  # monotonic: when the worker opened its run record
    overran: bool = False
    promised: list[Future[RunReport]] = field(default_factory=list)  # told how the run ended


SKIPPED = "skipped"  # a promised report's status when the run did not happen (not a run status)


def skipped(job: Job | None, source: str, trigger: str, reason: str) -> RunReport:
    return RunReport(job_id=job.id if job else 0, run_id=None, source=source, trigger=trigger,
                     status=SKIPPED, seconds=0.0, error=reason)


def _settle(promised: list[Future[RunReport]], report: RunReport) -> None:
    for future in promised:
        if not future.done():
            future.set_result(report)


def site_of(source: SourceConfig) -> str:
    """The site a source crawls, for sharing its politeness: its first seed's host, less www."""
    seeds = source.seeds()
    return site_key(host_of(seeds[0])) if seeds else source.name


def worker_slot(source: SourceConfig, workers: int) -> int:
    return zlib.crc32(site_of(source).encode()) % workers


class Dispatcher:
    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        workers: int,
        log_level: str = "ERROR",
        worker_name: str | None = None,
        die_with_parent: bool = False,
    ) -> None:
        """`worker_name`, `die_with_parent`: as crawler.daemon.jobs.Init has them."""
        self.config = config
        self.store = store
        self.log_level = log_level
        self.worker_name = worker_name
        self.die_with_parent = die_with_parent
        self.listeners: list[Callable[[RunReport], None]] = []
        self._cond = threading.Condition()
        self._slots: list[WorkerProcess | None] = [None] * workers
        self._workers: set[WorkerProcess] = set()  # every live worker, retiring ones too
        self._respawn_at: dict[int, float] = {}  # slot -> monotonic time to start it again
        self._failures: dict[int, int] = {}  # slot -> deaths in a row soon after start
        self._pending: list[tuple[float, int, str, str]] = []  # (due, seq, source, trigger)
        self._queued: set[str] = set()
        self._flights: dict[int, Flight] = {}  # by job id
        self._by_source: dict[str, int] = {}  # source -> job id in flight
        self._again: set[str] = set()  # due again while in flight
        self._waiting: dict[str, list[Future[RunReport]]] = {}  # source -> told of its next run
        self._ids = itertools.count(1)
        self._stopping = False
        self._memory_checked = 0.0

    # -- lifetime ---------------------------------------------------------------------------

    def start(self) -> None:
        with self._cond:
            for slot in range(len(self._slots)):
                self._spawn(slot)

    def stop_runs(self) -> None:
        """No more runs; every worker stops its runs (recorded "interrupted") and exits."""
        with self._cond:
            self._stopping = True
            self._pending.clear()
            self._queued.clear()
            waiting, self._waiting = self._waiting, {}
            workers = list(self._workers)
        for name, promised in waiting.items():
            _settle(promised, skipped(None, name, "", "stopping"))
        for worker in workers:
            worker.stop()

    @property
    def size(self) -> int:
        """How many workers run (retiring ones aside)."""
        return len(self._slots)

    def in_flight(self) -> int:
        with self._cond:
            return len(self._flights)

    def workers_alive(self) -> int:
        with self._cond:
            return len(self._workers)

    def kill_all(self, why: str) -> None:
        with self._cond:
            workers = list(self._workers)
        for worker in workers:
            log.warning("killing crawl worker %d: %s", worker.pid, why)
            worker.kill()

    def wait_workers(self, timeout: float) -> bool:
        """Whether every worker has exited and had its runs recorded within `timeout`."""
        deadline = time.monotonic() + timeout
        with self._cond:
            return self._cond.wait_for(lambda: not self._workers, timeout=max(deadline - time.monotonic(), 0))

    def reconfigure(self, config: Config) -> None:
        with self._cond:
            self.config = config
            workers = list(self._workers)
        for worker in workers:
            worker.send("config", config)

    def running(self) -> dict[str, int]:
        """The sources running now, and the pid of the worker running each."""
        with self._cond:
            return {f.job.source: f.worker.pid for f in self._flights.values()}

    # -- runs -------------------------------------------------------------------------------

    def submit(self, source: str, trigger: str = "schedule") -> None:
        """`source` is due now. Cheap and never blocking: APScheduler's threads call it."""
        self._submit(source, trigger, None)

    def run(self, source: str, trigger: str) -> Future[RunReport]:
        """A run of `source`, as `submit` makes it; the future gets its report, or a report with
        status SKIPPED and the reason as its error when it did not run (the source crawled by
        another process, gone from the config, the dispatcher stopping)."""
        future: Future[RunReport] = Future()
        self._submit(source, trigger, future)
        return future

    def cancel(self, source: str) -> None:
        """Stop the run of `source` in flight (recorded "interrupted"; its report comes as any)."""
        with self._cond:
            flight = self._flights.get(self._by_source.get(source, -1))
        if flight is not None:
            flight.worker.send("cancel", flight.job.id)

    def _submit(self, source: str, trigger: str, future: Future[RunReport] | None) -> None:
        with self._cond:
            if self._stopping:
                if future is not None:
                    _settle([future], skipped(None, source, trigger, "stopping"))
                return
            if future is not None:
                self._waiting.setdefault(source, []).append(future)
            if source in self._by_source:
                self._again.add(source)  # coalesced: once more when this run ends
                return
            if source in self._queued:
                return  # coalesced with the run already waiting
            self._queue(source, trigger, time.time())
            self._pump()

    def _queue(self, source: str, trigger: str, due: float) -> None:
        self._queued.add(source)
        heapq.heappush(self._pending, (due, next(self._ids), source, trigger))

    def _pump(self) -> None:
        """Send waiting runs to their workers, earliest due first, up to max_runs in flight."""
        blocked: list[tuple[float, int, str, str]] = []
        limit = self.config.daemon.max_runs
        while self._pending and len(self._flights) < limit and not self._stopping:
            item = heapq.heappop(self._pending)
            due, _, name, trigger = item
            source = self.config.sources.get(name)
            if source is None:  # removed from the config while it waited
                self._queued.discard(name)
                _settle(self._waiting.pop(name, []), skipped(None, name, trigger, "no longer in the config"))
                continue
            worker = self._slots[worker_slot(source, len(self._slots))]
            if worker is None or not worker.alive or worker.retiring:
                blocked.append(item)  # its worker is being started again
                continue
            self._queued.discard(name)
            job = Job(next(self._ids), name, trigger, datetime.fromtimestamp(due, UTC))
            deadline = None
            if source.max_runtime is not None:
                limit_s = source.max_runtime.total_seconds() + self.config.daemon.grace_period
                deadline = time.monotonic() + limit_s + RUNTIME_SLACK
            self._flights[job.id] = Flight(job, worker, time.monotonic(), deadline,
                                           promised=self._waiting.pop(name, []))
            self._by_source[name] = job.id
            if not worker.send("run", job):
                pass  # it is dying; its reader thread puts the job back
        for item in blocked:
            heapq.heappush(self._pending, item)

    def on_message(self, worker: WorkerProcess, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "started":
            _, job_id, run_id = message
            with self._cond:
                flight = self._flights.get(job_id)
                if flight is not None:
                    flight.run_id, flight.began = run_id, time.monotonic()
            if flight is not None:
                log.info(
                    "run started",
                    extra=fields(
                        event="run_started",
                        source=flight.job.source,
                        trigger=flight.job.trigger,
                        run_id=run_id,
                        pid=worker.pid,
                    ),
                )
        elif kind == "skipped":
            _, job_id, reason = message
            flight = self._land(job_id)
            if flight is not None:
                job = flight.job
                log.info("run skipped: %s", reason, extra=fields(event="run_skipped", source=job.source))
                _settle(flight.promised, skipped(job, job.source, job.trigger, reason))
        elif kind == "finished":
            _, job_id, report = message
            worker.runs = report.worker_runs
            # Before the run's place goes to the next: that one must go to the new worker.
            self._maybe_retire(worker)
            if (flight := self._land(job_id)) is not None:
                self._finished(report)
                _settle(flight.promised, report)
        elif kind == "fatal":
            log.error("crawl worker %d cannot crawl: %s", worker.pid, message[1])
        elif kind == "ready":
            log.info(
                "crawl worker ready",
                extra=fields(event="worker_ready", pid=worker.pid, slot=worker.slot,
                             seconds=round(time.monotonic() - worker.started, 2)),
            )

    def _land(self, job_id: int) -> Flight | None:
        """A run is over: its place is free, its source may run again."""
        with self._cond:
            flight = self._flights.pop(job_id, None)
            if flight is None:
                return None
            name = flight.job.source
            self._by_source.pop(name, None)
            if name in self._again and not self._stopping:
                self._again.discard(name)
                self._queue(name, flight.job.trigger, time.time())
            self._pump()
            self._cond.notify_all()
        return flight

    def _finished(self, report: RunReport) -> None:
        log.log(
            logging.INFO if report.status == "ok" else logging.WARNING,
            "run finished",
            extra=fields(event="run_finished", **report.fields()),
        )
        for listener in self.listeners:
            try:
                listener(report)
            except Exception:
                log.exception("a run listener failed on run %s of %s", report.run_id, report.source)

    # -- workers ----------------------------------------------------------------------------

    def _spawn(self, slot: int) -> None:
        """Start the worker of `slot` (under the lock)."""
        worker = WorkerProcess.spawn(
            slot,
            Init(self.config, self.log_level, self.worker_name, self.die_with_parent,
                 extract_workers=max(1, default_workers() // len(self._slots))),
            on_message=self.on_message,
            on_exit=self.on_exit,
            on_line=_relay,
        )
        self._slots[slot] = worker
        self._workers.add(worker)
        self._respawn_at.pop(slot, None)

    def _maybe_retire(self, worker: WorkerProcess) -> None:
        settings = self.config.daemon
        if worker.runs >= settings.recycle_runs:
            self._retire(worker, f"{worker.runs} runs")

    def _retire(self, worker: WorkerProcess, why: str) -> None:
        with self._cond:
            if worker.retiring or self._stopping or self._slots[worker.slot] is not worker:
                return
            worker.retiring = True
            log.info(
                "recycling crawl worker %d after %s", worker.pid, why,
                extra=fields(event="worker_recycled", pid=worker.pid, reason=why),
            )
            self._spawn(worker.slot)
            busy = any(f.worker is worker for f in self._flights.values())
        if not busy:
            worker.stop()
        # else: on_exit is not due yet; check() stops it once its last run has landed

    def on_exit(self, worker: WorkerProcess, code: int) -> None:
        """A worker is gone: its runs are recorded, it is replaced if it should be."""
        with self._cond:
            mine = [f for f in self._flights.values() if f.worker is worker]
            for flight in mine:
                del self._flights[flight.job.id]
                self._by_source.pop(flight.job.source, None)
            replace = not self._stopping and self._slots[worker.slot] is worker
            lived = time.monotonic() - worker.started
            if replace:
                self._slots[worker.slot] = None
                fails = self._failures.get(worker.slot, 0) + 1 if lived < STABLE_AFTER else 1
                self._failures[worker.slot] = fails
                pause = 0.0 if fails <= 1 else min(RESPAWN_FIRST * 2 ** (fails - 2), RESPAWN_MAX)
                self._respawn_at[worker.slot] = time.monotonic() + pause
            # Runs it never began go back in the queue, unless it could not crawl at all.
            unstarted = [f for f in mine if f.run_id is None]
            if not self._stopping and worker.fatal is None:
                for flight in unstarted:
                    name = flight.job.source
                    self._waiting[name] = flight.promised + self._waiting.get(name, [])
                    flight.promised = []
                    if name not in self._queued:
                        self._queue(name, flight.job.trigger, flight.job.due.timestamp())
            self._cond.notify_all()
        expected = worker.retiring or self._stopping
        if not expected or code != 0:
            level = logging.INFO if expected else logging.ERROR
            last = worker.fatal or (worker.tail[-1] if worker.tail else "")
            log.log(
                level,
                "crawl worker %d %s%s", worker.pid, describe_exit(code), f": {last}" if last else "",
                extra=fields(event="worker_exited", pid=worker.pid, code=code, runs=len(mine)),
            )
        for flight in mine:
            report = self._record_lost(flight, worker, code)
            _settle(flight.promised, report or skipped(flight.job, flight.job.source, flight.job.trigger,
                                                       "stopping"))
        with self._cond:
            self._workers.discard(worker)  # only now: stopping waits for the records above
            if replace:
                self._respawn_due()
            self._pump()
            self._cond.notify_all()

    def _record_lost(self, flight: Flight, worker: WorkerProcess, code: int) -> RunReport | None:
        """The record of a run whose worker died under it, and its report."""
        job = flight.job
        error: str | None
        if flight.run_id is None and worker.fatal is None:
            return None  # never began: queued again (or dropped on the way out)
        if flight.overran:
            status = "timeout"
            error = f"killed: still running {self.config.daemon.grace_period:g}s past max_runtime"
        elif worker.fatal is not None:
            status, error = "failed", worker.fatal
        elif self._stopping:
            status = "interrupted"
            error = "killed: did not stop within the grace period" if code < 0 else "the daemon stopped"
        else:
            status = "interrupted"
            error = f"crawl worker (pid {worker.pid}) {describe_exit(code)}"
            last = worker.tail[-1] if worker.tail else ""
            if last and "|" not in last:
                error += f": {last}"
        run_id = flight.run_id
        counts: dict[str, Any] = {}
        try:
            if run_id is None:
                run_id = self.store.start_run(job.source, job.trigger,
                                              self.worker_name or f"{socket.gethostname()}:{worker.pid}")
            if not self.store.finish_run(run_id, status, {}, error):
                # The crawl closed its record itself just before its worker went, and its own
                # report was lost on the way: the record says what happened, so the log does too.
                record = self.store.run(run_id)
                if record is not None:
                    status, error = record.status, record.error
                    counts = {"pages": record.pages, "new": record.new, "duplicates": record.duplicates,
                              "revised": record.revised, "skipped": dict(record.skipped or {}),
                              "errors": dict(record.errors or {})}
        except Exception as exc:
            log.error("could not record run %s of %s: %s", run_id, job.source, exc)
        report = RunReport(
            job_id=job.id, run_id=run_id, source=job.source, trigger=job.trigger, status=status,
            seconds=time.monotonic() - (flight.began or flight.sent), error=error, worker_pid=worker.pid,
            worker_runs=worker.runs, **counts,
        )
        self._finished(report)
        return report

    def _respawn_due(self) -> None:
        now = time.monotonic()
        for slot, when in list(self._respawn_at.items()):
            if when <= now and self._slots[slot] is None and not self._stopping:
                self._spawn(slot)

    def check(self) -> None:
        """Called about once a second: overdue runs, workers to restart, stop or recycle."""
        now = time.monotonic()
        overdue: list[Flight] = []
        with self._cond:
            self._respawn_due()
            self._pump()
            for flight in self._flights.values():
                if flight.deadline is not None and now > flight.deadline and not flight.overran:
                    flight.overran = True
                    overdue.append(flight)
            idle_retired = [
                w for w in self._workers
                if w.retiring and not any(f.worker is w for f in self._flights.values())
            ]
            workers = [w for w in self._workers if not w.retiring]
        for flight in overdue:
            log.warning(
                "killing crawl worker %d: %s still running past max_runtime + grace_period; "
                "its other runs are recorded interrupted",
                flight.worker.pid, flight.job.source,
            )
            flight.worker.kill()
        for worker in idle_retired:
            if not worker.stop_sent:
                worker.stop()
        if now - self._memory_checked >= MEMORY_CHECK:
            self._memory_checked = now
            ceiling = self.config.daemon.recycle_memory
            for worker in workers:
                used = worker.memory_mib()
                if used > ceiling:
                    self._retire(worker, f"{used:.0f} MiB, above recycle_memory ({ceiling} MiB)")


def _relay(line: str) -> None:
    """A worker's log line, logged again by the daemon with the source it came from."""
    parts = line.split("|", 3)
    if len(parts) == 4:
        level, name, source, message = parts
        number = logging.getLevelName(level)
        if isinstance(number, int):
            crawl_log.log(number, message, extra=fields(source=source or None, logger_name=name))
            return
    crawl_log.warning(line)  # a traceback line, or something printed
