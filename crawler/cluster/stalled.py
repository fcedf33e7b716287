"""A dead worker's run whose next run already waits: closed by the leader, so the next one goes.

A worker that dies mid-run (kill -9, a lost machine) leaves its job `doing`, holding its
source's job lock. Workers hand such jobs back to the queue (crawler.cluster.worker), but a
source polled more often than its crawl lasts has its next run queued behind the running one
already, and the queue refuses a second waiting run of a source (its queueing lock): the dead
run cannot go back, and the waiting one cannot start while the dead one holds the lock. The
leader, which queued that next run, closes the dead one (`failed`, through procrastinate's own
function): the waiting run does its work. The dead crawl's run record is closed by that next
crawl of the source ("abandoned").
"""

from __future__ import annotations

import logging

from sqlalchemy import text

from crawler.cluster.app import CRAWL_TASK
from pipelines.storage.database import Store

log = logging.getLogger("newsmill.daemon")

_DEAD_WITH_A_TWIN = text(
    """
    SELECT j.id, j.args ->> 'source' AS source FROM procrastinate_jobs j
      LEFT JOIN procrastinate_workers w ON w.id = j.worker_id
     WHERE j.task_name = :task AND j.status = 'doing'
       AND (w.id IS NULL OR w.last_heartbeat < now() - make_interval(secs => :silent))
       AND EXISTS (SELECT 1 FROM procrastinate_jobs t
                    WHERE t.status = 'todo' AND t.queueing_lock = j.queueing_lock)
    """
)
_FINISH = text("SELECT procrastinate_finish_job_v1(:id, 'failed', false)")


def close_dead_runs_with_a_twin(store: Store, silent_for: float) -> list[int]:
    """Close the crawl jobs of workers silent for `silent_for` seconds whose source has a run
    waiting; their ids."""
    closed = []
    with store.engine.connect() as connection:
        found = connection.execute(_DEAD_WITH_A_TWIN, {"task": CRAWL_TASK, "silent": silent_for}).all()
        connection.commit()
        for job_id, source in found:
            try:
                connection.execute(_FINISH, {"id": job_id})
                connection.commit()
            except Exception:  # handed back or closed by another meanwhile
                connection.rollback()
                continue
            log.warning("run %s of %s on a dead worker closed: its source's next run waits already",
                        job_id, source, extra={"fields": {"event": "dead_run_closed", "source": source}})
            closed.append(job_id)
    return closed
