"""What source health reads from the database: a source's newest runs, and when its runs last
stored new articles. The judging is common.health's, on what these return."""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select

from common.health import Health, Run, Thresholds, assess
from pipelines.storage.database import Store
from pipelines.storage.models import CrawlRun, utcnow

RUNS = 100  # a source's newest runs read: enough for a baseline, bounded whatever its age
PRODUCTIVE = 50  # its newest runs that stored something: the usual gap between new articles


_RUN_COLUMNS = (
    CrawlRun.id,
    CrawlRun.source,
    CrawlRun.trigger,
    CrawlRun.started_at,
    CrawlRun.finished_at,
    CrawlRun.status,
    CrawlRun.pages,
    CrawlRun.new,
    CrawlRun.duplicates,
    CrawlRun.revised,
    CrawlRun.skipped,
    CrawlRun.errors,
    CrawlRun.error,
    CrawlRun.extraction,
)


def recent_runs(store: Store, source: str, limit: int = RUNS, after: int = 0) -> list[Run]:
    """The source's newest runs (newer than run `after`), oldest first. Plain rows, not ORM
    objects: the daemon reads them after every run, and building objects cost four times the query."""
    query = select(*_RUN_COLUMNS).where(CrawlRun.source == source, CrawlRun.id > after)
    query = query.order_by(CrawlRun.id.desc()).limit(limit)
    with store.engine.connect() as connection:
        rows = connection.execute(query).all()
    return [Run.of(row) for row in reversed(rows)]


def productive_starts(store: Store, source: str, limit: int = PRODUCTIVE) -> list[datetime]:
    """When the source's newest runs that stored new articles started, oldest first."""
    query = (
        select(CrawlRun.started_at)
        .where(CrawlRun.source == source, CrawlRun.new > 0)
        .order_by(CrawlRun.id.desc())
        .limit(limit)
    )
    with store.engine.connect() as connection:
        return list(connection.scalars(query))[::-1]


class History:
    """Each source's newest runs and productive starts, kept between calls and topped up with
    the runs recorded since: the daemon judges a source after each of its runs without reading
    its whole window again. Only runs that have finished are kept; one still running is read
    again until it has."""

    def __init__(self, limit: int = RUNS, productive: int = PRODUCTIVE) -> None:
        self._runs: dict[str, deque[Run]] = {}
        self._productive: dict[str, deque[datetime]] = {}
        self.limit = limit
        self.productive_limit = productive
        self.added: list[Run] = []  # the finished runs the last call read that earlier ones had not

    def health(
        self, store: Store, source: str, thresholds: Thresholds, now: datetime | None = None
    ) -> Health:
        runs, productive = self._runs.get(source), self._productive.get(source)
        if runs is None or productive is None:
            runs = self._runs[source] = deque(maxlen=self.limit)
            productive = self._productive[source] = deque(
                productive_starts(store, source), self.productive_limit
            )
            newer = recent_runs(store, source, self.limit)
            finished = list(itertools.takewhile(lambda r: r.status != "running", newer))
            self.added = []  # what came before is history, not news
        else:
            newer = recent_runs(store, source, self.limit, after=runs[-1].id if runs else 0)
            finished = list(itertools.takewhile(lambda r: r.status != "running", newer))
            productive.extend(r.started_at for r in finished if r.new)
            self.added = finished
        runs.extend(finished)
        current = [*runs, *newer[len(finished) :]]
        return assess(source, current, now or utcnow(), thresholds, productive=list(productive))

    def forget(self, source: str) -> None:
        self._runs.pop(source, None)
        self._productive.pop(source, None)


def source_health(store: Store, source: str, thresholds: Thresholds, now: datetime | None = None) -> Health:
    return assess(
        source,
        recent_runs(store, source),
        now or utcnow(),
        thresholds,
        productive=productive_starts(store, source),
    )


def health_of(store: Store, sources: Iterable[tuple[str, Thresholds]]) -> list[Health]:
    """Each (name, thresholds) source's health, now."""
    now = utcnow()
    return [source_health(store, name, thresholds, now) for name, thresholds in sources]
