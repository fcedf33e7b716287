"""APScheduler as the clock of `newsmill run`: a job per scheduled source that says when it is
due, and what a reloaded config changes in it. What a due source becomes (a run on the
daemon's own workers, a job in the cluster's queue) is the caller's `on_due`."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler

from crawler.config import Config, ConfigError, SourceConfig, load_config
from crawler.daemon.logs import fields
from crawler.schedule import parse_schedule

log = logging.getLogger("newsmill.daemon")

# A scheduled job only hands its source on (to the dispatcher, to the queue), which never
# blocks for long: a few threads keep up with thousands of sources.
SCHEDULER_THREADS = 4


class Clock:
    def __init__(self, on_due: Callable[[str], None]) -> None:
        self.on_due = on_due
        self.scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(SCHEDULER_THREADS)},
            job_defaults={"coalesce": True, "max_instances": 1},
        )

    def start(self) -> None:
        self.scheduler.start()

    def shutdown(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    def schedule_all(self, config: Config, *, first_run_now: bool) -> None:
        for source in config.sources.values():
            self.schedule(source, config, first_run_now=first_run_now)

    def clear(self) -> None:
        """No source is due any more (a scheduler that stands by again)."""
        self.scheduler.remove_all_jobs()

    def schedule(self, source: SourceConfig, config: Config, *, first_run_now: bool) -> None:
        if source.schedule is None:
            return  # a source without a schedule is crawled from the command line only
        extra: dict[str, Any] = {"next_run_time": datetime.now(UTC)} if first_run_now else {}
        self.scheduler.add_job(
            self.on_due,
            parse_schedule(source.schedule, source.jitter),
            args=[source.name],
            id=source.name,
            name=source.name,
            misfire_grace_time=int(config.daemon.misfire_grace_time),
            replace_existing=True,
            **extra,
        )

    def unschedule(self, name: str) -> None:
        with contextlib.suppress(JobLookupError):
            self.scheduler.remove_job(name)

    def apply(self, old: Config, new: Config) -> dict[str, str | None]:
        """Move the schedule from `old` to `new`; what changed, as the reload logs it."""
        added = sorted(new.sources.keys() - old.sources.keys())
        removed = sorted(old.sources.keys() - new.sources.keys())
        kept = new.sources.keys() & old.sources.keys()
        changed = sorted(n for n in kept if new.sources[n] != old.sources[n])
        for name in removed:
            self.unschedule(name)  # a crawl of it already running finishes on its own
        for name in added:
            self.schedule(new.sources[name], new, first_run_now=new.daemon.run_at_startup)
        for name in new.sources.keys() & old.sources.keys():
            before, after = old.sources[name], new.sources[name]
            if (before.schedule, before.jitter) != (after.schedule, after.jitter) or (
                new.daemon.misfire_grace_time != old.daemon.misfire_grace_time
            ):
                # A run going on now still counts against max_instances: jobs are keyed by name.
                self.unschedule(name)
                self.schedule(after, new, first_run_now=before.schedule is None and new.daemon.run_at_startup)
        return {"added": ",".join(added) or None, "removed": ",".join(removed) or None,
                "changed": ",".join(changed) or None}

    def next_runs(self) -> dict[str, str | None]:
        """Each scheduled source's next due time (ISO 8601, UTC)."""
        found: dict[str, str | None] = {}
        for job in self.scheduler.get_jobs():
            next_run = getattr(job, "next_run_time", None)
            found[job.id] = next_run.astimezone(UTC).isoformat() if next_run else None
        return found


def reread(old: Config) -> Config | None:
    """SIGHUP: the config file as it is now; None (logged) when it does not validate or names
    another database, and the caller keeps `old`."""
    try:
        new = load_config(old.path)
    except ConfigError as exc:
        log.error("config reload refused, still running the previous config: %s", exc,
                  extra=fields(event="reload_refused"))
        return None
    if new.database != old.database:
        log.error("config reload refused: the database changed; restart the daemon to switch",
                  extra=fields(event="reload_refused"))
        return None
    return new
