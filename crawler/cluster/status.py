"""What the cluster is doing, read from procrastinate's tables: live workers and their jobs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import text

from crawler.cluster.app import CRAWL_TASK, PART_TASK
from pipelines.storage.database import Store

_WORKERS = text(
    """
    SELECT w.id, w.last_heartbeat, c.host, c.pid, c.started_at
      FROM procrastinate_workers w
      LEFT JOIN cluster_workers c ON c.worker_id = w.id
     ORDER BY w.id
    """
)
_RUNNING = text(
    """
    SELECT j.id, j.worker_id, j.task_name, j.args, j.attempts,
           (SELECT max(e.at) FROM procrastinate_events e
             WHERE e.job_id = j.id AND e.type = 'started') AS started_at
      FROM procrastinate_jobs j
     WHERE j.status = 'doing'
     ORDER BY j.id
    """
)
_QUEUED = text("SELECT task_name, count(*) FROM procrastinate_jobs WHERE status = 'todo' GROUP BY task_name")
_PARTS_LEFT = text(
    """
    SELECT count(*) FROM procrastinate_jobs
     WHERE task_name = :task AND status IN ('todo', 'doing') AND args ->> 'source' = :source
    """
)


_RUNS_BY_SOURCE = text(
    """
    SELECT args ->> 'source' AS source, status, count(*) AS n FROM procrastinate_jobs
     WHERE task_name = :task AND status IN ('todo', 'doing')
     GROUP BY 1, 2
    """
)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def workers(store: Store, stalled_after: float) -> dict[str, Any]:
    """Live workers (a heartbeat within `stalled_after` seconds) with their jobs in flight, the
    workers taken for dead, and the jobs waiting per kind."""
    with store.engine.connect() as connection:
        now = connection.execute(text("SELECT now()")).scalar_one()
        rows = connection.execute(_WORKERS).all()
        running = connection.execute(_RUNNING).all()
        queued = {task: int(n) for task, n in connection.execute(_QUEUED)}
    jobs_of: dict[int | None, list[dict[str, Any]]] = {}
    for job in running:
        jobs_of.setdefault(job.worker_id, []).append({
            "id": job.id, "task": job.task_name, "args": dict(job.args or {}), "attempts": job.attempts,
            "started_at": _iso(job.started_at),
        })
    found: dict[str, Any] = {"live": [], "stalled": [], "queued": queued}
    for row in rows:
        silent = (now - row.last_heartbeat).total_seconds()
        entry = {
            "id": row.id, "host": row.host, "pid": row.pid, "started_at": _iso(row.started_at),
            "last_heartbeat": _iso(row.last_heartbeat), "seconds_since_heartbeat": round(silent, 1),
            "jobs": jobs_of.get(row.id, []),
        }
        found["live" if silent <= stalled_after else "stalled"].append(entry)
    return found


def parts_left(store: Store, source: str) -> int:
    """Jobs of the source's backfill parts still queued or running in the cluster."""
    with store.engine.connect() as connection:
        return int(connection.execute(_PARTS_LEFT, {"task": PART_TASK, "source": source}).scalar_one())


def runs_by_source(store: Store) -> dict[str, dict[str, int]]:
    """Per source, its runs waiting in the cluster's queue (`queued`) and being crawled by a
    worker (`running`); sources with neither are left out."""
    found: dict[str, dict[str, int]] = {}
    with store.engine.connect() as connection:
        for source, status, n in connection.execute(_RUNS_BY_SOURCE, {"task": CRAWL_TASK}):
            counts = found.setdefault(source, {"queued": 0, "running": 0})
            counts["queued" if status == "todo" else "running"] += int(n)
    return found
