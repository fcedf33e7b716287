"""The sources as the web view lists them: those configured and those the store has articles
or runs of, each with its totals, last runs and (once it exists) health."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from pipelines.storage import overview
from pipelines.storage.database import Store
from pipelines.storage.models import CrawlRun
from web.health import SourceHealth, source_health

_NAMES_TTL = 60.0  # seconds the list of source names is reused for validating a filter


@dataclass(frozen=True, slots=True)
class SourceSummary:
    name: str
    schedule: str | None  # None: in the store, no longer in the config
    totals: overview.SourceTotals
    runs: list[CrawlRun]  # newest first
    health: SourceHealth | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "schedule": self.schedule,
            "configured": self.schedule is not None,
            "articles": self.totals.articles,
            "newest_article_at": self.totals.newest.isoformat() if self.totals.newest else None,
            "last_stored_at": self.totals.last_stored.isoformat() if self.totals.last_stored else None,
            "last_run": self.runs[0].as_dict() if self.runs else None,
            "health": None if self.health is None else self.health.as_dict(),
        }


def summaries(request: Request, runs_each: int = 3, only: str | None = None) -> list[SourceSummary]:
    store: Store = request.app.state.store
    schedules: dict[str, str] = request.app.state.settings.schedules
    totals = overview.totals(store.engine)
    last_runs = store.last_runs()
    names = sorted(set(schedules) | set(totals) | set(last_runs))
    if only is not None:
        names = [n for n in names if n == only]
    health = source_health(store, names, request.app.state.settings.thresholds)
    empty = overview.SourceTotals(0, None, None)
    return [
        SourceSummary(
            name=name,
            schedule=schedules.get(name),
            totals=totals.get(name, empty),
            runs=store.runs(source=name, limit=runs_each) if name in last_runs else [],
            health=None if health is None else health.get(name),
        )
        for name in names
    ]


def languages(request: Request) -> list[str]:
    """The languages of the stored articles, for the search form; read again every minute at most
    (a scan of every article)."""
    state = request.app.state
    cached: tuple[float, list[str]] | None = getattr(state, "languages", None)
    if cached is None or time.monotonic() - cached[0] > _NAMES_TTL:
        store: Store = state.store
        cached = (time.monotonic(), overview.languages(store.engine))
        state.languages = cached
    return cached[1]


def is_known(request: Request, name: str) -> bool:
    return name in known_sources(request) or name in known_sources(request, fresh=True)


def known_sources(request: Request, *, fresh: bool = False) -> set[str]:
    """Configured sources and those with articles, read again every minute at most."""
    state = request.app.state
    cached: tuple[float, set[str]] | None = getattr(state, "source_names", None)
    if fresh or cached is None or time.monotonic() - cached[0] > _NAMES_TTL:
        store: Store = state.store
        names = set(state.settings.schedules) | set(overview.totals(store.engine))
        cached = (time.monotonic(), names)
        state.source_names = cached
    return cached[1]
