"""The runs a cluster's leader hears of: run records closed since its last look, whichever
worker, on whichever machine, ran them.

The look needs no clock (machines' clocks differ): it keeps the highest run id it has seen and
the ids of the runs it saw still running, and asks for the runs above that id and those ids.
A run closed since is news; a new one still running is kept for the next look. Both sets are
found by the primary key, and the open set is no bigger than the runs in flight. An id skipped
over (a run whose insert committed after a higher id's did, or a number the sequence never
used) is asked for again for a minute.
"""

from __future__ import annotations

import time

from sqlalchemy import func, or_, select

from pipelines.storage.database import Store
from pipelines.storage.models import CrawlRun

GAP_WAIT = 60.0  # seconds a skipped run id is asked for


class FinishedRuns:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._after = 0
        self._open: set[int] = set()
        self._gaps: dict[int, float] = {}  # id -> monotonic time it was first missed

    def start(self) -> None:
        """From now on: runs closed before are not news."""
        with self.store.sessions() as session:
            self._after = session.scalar(select(func.max(CrawlRun.id))) or 0
            running = select(CrawlRun.id).where(CrawlRun.status == "running")
            self._open = set(session.scalars(running))

    def look(self) -> list[CrawlRun]:
        """The runs closed since the last look, oldest first."""
        now = time.monotonic()
        self._gaps = {i: t for i, t in self._gaps.items() if now - t < GAP_WAIT}
        known = self._open | self._gaps.keys()
        seen = or_(CrawlRun.id > self._after, CrawlRun.id.in_(known)) if known else CrawlRun.id > self._after
        with self.store.sessions() as session:
            rows = list(session.scalars(select(CrawlRun).where(seen).order_by(CrawlRun.id)))
        found = {run.id for run in rows}
        top = max(found | {self._after})
        for missing in set(range(self._after + 1, top)) - found:
            self._gaps[missing] = now
        self._after = top
        closed = []
        for run in rows:
            self._gaps.pop(run.id, None)
            if run.status == "running":
                self._open.add(run.id)
            else:
                self._open.discard(run.id)
                closed.append(run)
        return closed
