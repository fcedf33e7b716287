"""The parts of a backfill in the database: recorded once, claimed, marked done or failed.

A part's row is the truth about it wherever it runs (this machine, any worker of a cluster):
re-running a backfill records only the parts not known yet and crawls those not done.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update

from pipelines.storage.database import Store
from pipelines.storage.models import BackfillPart, url_hash, utcnow

PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"
STATUSES = (DONE, RUNNING, PENDING, FAILED)


@dataclass(frozen=True, slots=True)
class PlannedPart:
    url: str
    lastmod: datetime | None = None


@dataclass(frozen=True, slots=True)
class Progress:
    """How far a backfill got: parts per status, and what its done parts found."""

    source: str
    window: str
    parts: dict[str, int]
    pages: int
    new: int
    duplicates: int
    errors: int

    @property
    def total(self) -> int:
        return sum(self.parts.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "window": self.window,
            "parts": {status: self.parts.get(status, 0) for status in STATUSES},
            "pages": self.pages,
            "new": self.new,
            "duplicates": self.duplicates,
            "errors": self.errors,
        }


def record(store: Store, source: str, window: str, planned: Iterable[PlannedPart]) -> int:
    """Record the parts not recorded yet; how many were new. Known parts keep their status."""
    rows = [
        {
            "source": source,
            "window": window,
            "url_hash": url_hash(p.url),
            "url": p.url,
            "lastmod": p.lastmod,
            "status": PENDING,
            "attempts": 0,
            "pages": 0,
            "new": 0,
            "duplicates": 0,
            "errors": 0,
            "created_at": utcnow(),
        }
        for p in planned
    ]
    added = 0
    insert = store.insert()
    with store.sessions.begin() as session:
        for start in range(0, len(rows), 500):
            statement = insert(BackfillPart).on_conflict_do_nothing(
                index_elements=["source", "window", "url_hash"]
            )
            result = session.execute(statement.returning(BackfillPart.id), rows[start : start + 500])
            added += len(result.all())
    return added


def parts(
    store: Store, source: str, window: str, statuses: Iterable[str] | None = None
) -> list[BackfillPart]:
    """The backfill's parts, the newest sitemaps first (by lastmod, then as recorded)."""
    query = select(BackfillPart).where(BackfillPart.source == source, BackfillPart.window == window)
    if statuses is not None:
        query = query.where(BackfillPart.status.in_(list(statuses)))
    query = query.order_by(BackfillPart.lastmod.desc().nulls_last(), BackfillPart.id)
    with store.sessions() as session:
        return list(session.scalars(query))


def get(store: Store, part_id: int) -> BackfillPart | None:
    with store.sessions() as session:
        return session.get(BackfillPart, part_id)


def start(store: Store, part_id: int, worker: str) -> None:
    with store.sessions.begin() as session:
        session.execute(
            update(BackfillPart)
            .where(BackfillPart.id == part_id)
            .values(
                status=RUNNING,
                attempts=BackfillPart.attempts + 1,
                worker=worker,
                started_at=utcnow(),
                finished_at=None,
                error=None,
            )
        )


def finish(store: Store, part_id: int, status: str, counts: dict[str, Any], error: str | None = None) -> None:
    """Close a part: done with its counts, failed with why, or pending again (interrupted)."""
    with store.sessions.begin() as session:
        session.execute(
            update(BackfillPart)
            .where(BackfillPart.id == part_id)
            .values(
                status=status,
                pages=BackfillPart.pages + int(counts.get("pages", 0)),
                new=BackfillPart.new + int(counts.get("new", 0)),
                duplicates=BackfillPart.duplicates + int(counts.get("duplicates", 0)),
                errors=BackfillPart.errors + sum(dict(counts.get("errors", {})).values()),
                error=error,
                finished_at=utcnow() if status != PENDING else None,
            )
        )


def progress(store: Store, source: str, window: str | None = None) -> list[Progress]:
    """Each backfill of the source (one per window), or the one of `window`."""
    columns = (
        BackfillPart.window,
        BackfillPart.status,
        func.count(),
        func.sum(BackfillPart.pages),
        func.sum(BackfillPart.new),
        func.sum(BackfillPart.duplicates),
        func.sum(BackfillPart.errors),
    )
    query = select(*columns).where(BackfillPart.source == source)
    if window is not None:
        query = query.where(BackfillPart.window == window)
    query = query.group_by(BackfillPart.window, BackfillPart.status).order_by(BackfillPart.window)
    found: dict[str, dict[str, Any]] = {}
    with store.sessions() as session:
        for win, status, count, pages, new, duplicates, errors in session.execute(query):
            entry = found.setdefault(win, {"parts": {}, "pages": 0, "new": 0, "duplicates": 0, "errors": 0})
            entry["parts"][status] = int(count)
            entry["pages"] += int(pages or 0)
            entry["new"] += int(new or 0)
            entry["duplicates"] += int(duplicates or 0)
            entry["errors"] += int(errors or 0)
    return [Progress(source=source, window=win, **values) for win, values in found.items()]
