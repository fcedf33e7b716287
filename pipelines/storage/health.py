"""What source health reads from the database: a source's newest runs, and when its runs last
stored new articles. The judging is pipelines.health's, on what these return."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select

from pipelines.health import Health, Run, Thresholds, assess
from pipelines.storage.database import Store
from pipelines.storage.models import CrawlRun, utcnow

RUNS = 100  # a source's newest runs read: enough for a baseline, bounded whatever its age
PRODUCTIVE = 50  # its newest runs that stored something: the usual gap between new articles


def recent_runs(store: Store, source: str, limit: int = RUNS) -> list[Run]:
    """The source's newest runs, oldest first."""
    query = select(CrawlRun).where(CrawlRun.source == source).order_by(CrawlRun.id.desc()).limit(limit)
    with store.sessions() as session:
        return [Run.of(r) for r in session.scalars(query)][::-1]


def productive_starts(store: Store, source: str, limit: int = PRODUCTIVE) -> list[datetime]:
    """When the source's newest runs that stored new articles started, oldest first."""
    query = (
        select(CrawlRun.started_at)
        .where(CrawlRun.source == source, CrawlRun.new > 0)
        .order_by(CrawlRun.id.desc())
        .limit(limit)
    )
    with store.sessions() as session:
        return list(session.scalars(query))[::-1]


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
