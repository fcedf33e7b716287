"""Run records at a daemon's rate: pruned past keep_runs but for each source's last run and last
failure, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from pipelines.storage import schema
from pipelines.storage.database import Store
from pipelines.storage.models import CrawlRun
from tests.databases import *  # noqa: F403  (the database fixtures)


def _run(store: Store, source: str, status: str, started: datetime) -> int:
    run_id = store.start_run(source, "schedule")
    if status != "running":
        store.finish_run(run_id, status, {})
    with store.sessions.begin() as session:
        session.execute(update(CrawlRun).where(CrawlRun.id == run_id).values(started_at=started))
    return run_id


def test_pruning_keeps_recent_runs_and_each_sources_last_run_and_last_failure(database_url: str) -> None:
    schema.prepare(database_url)
    store = Store(database_url)
    try:
        now = datetime.now(UTC)
        old = now - timedelta(days=40)
        a_failed = _run(store, "a", "failed", old)
        a_old = [_run(store, "a", "ok", old + timedelta(minutes=n)) for n in range(5)]
        a_recent = _run(store, "a", "ok", now - timedelta(days=1))
        b_only = [_run(store, "b", "ok", old + timedelta(minutes=n)) for n in range(3)]  # all old
        c_open = _run(store, "c", "running", old)
        c_old_failed = _run(store, "c", "failed", old)
        c_last_failed = _run(store, "c", "failed", old + timedelta(minutes=1))
        c_recent = _run(store, "c", "ok", now)

        removed = store.prune_runs(now - timedelta(days=30), batch=2)

        left = {r.id for r in store.runs(limit=1000)}
        assert left == {a_failed, a_recent, b_only[-1], c_open, c_last_failed, c_recent}
        assert removed == len(a_old) + len(b_only) - 1 + 1  # c_old_failed went too
        assert c_old_failed not in left
        assert store.prune_runs(now - timedelta(days=30)) == 0
    finally:
        store.close()


def test_a_run_closed_by_its_crawl_keeps_its_status_when_the_daemon_closes_it_late(database_url: str) -> None:
    # The daemon closes the runs of a worker that died; a run its crawl had closed a moment before
    # keeps what the crawl recorded, and the daemon learns that it did not close it.
    schema.prepare(database_url)
    store = Store(database_url)
    try:
        run_id = store.start_run("refused", "schedule")
        assert store.finish_run(run_id, "failed", {"pages": 0}, "connection refused") is True
        assert store.finish_run(run_id, "interrupted", {}, "the daemon stopped") is False
        record = store.run(run_id)
        assert record is not None
        assert (record.status, record.error) == ("failed", "connection refused")
    finally:
        store.close()
