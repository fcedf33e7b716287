"""`newsmill worker`'s engine room: a procrastinate worker, its crawl process(es), and the
cluster's care of dead workers.

procrastinate's worker takes the jobs, sends a heartbeat every HEARTBEAT seconds and, on
SIGTERM / Ctrl-C, takes no new job and waits `daemon.grace_period` for its running ones, then
stops them (their crawls stop as on Ctrl-C; a run is queued again, a backfill part is retried
elsewhere). Runs go to `daemon.workers` long-lived crawl processes started once with the worker
(the daemon's Dispatcher: a crawl process that dies is restarted and its run recorded
"interrupted"; one that grows is recycled). Beside it,
every live worker looks for the jobs of workers whose heartbeat stopped (kill -9, a lost
machine) and hands them back to the queue, as procrastinate's documentation advises: whichever
worker is free runs them again, and the store's unique keys keep what the dead one had
stored from being stored twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select

from common.processes import this_process
from crawler.cluster.app import QUEUE, make_app
from crawler.daemon.dispatch import Dispatcher
from crawler.locks import Lock
from pipelines.storage.database import Store
from pipelines.storage.models import ClusterWorker, utcnow

if TYPE_CHECKING:
    from procrastinate import App
    from procrastinate.worker import Worker

    from crawler.config import Config

log = logging.getLogger(__name__)

HEARTBEAT = 2.0  # seconds between a worker's heartbeats
STALLED_AFTER = 10.0  # seconds without a heartbeat before a worker is taken for dead
CHECK_EVERY = 2.0  # seconds between two looks for the jobs of dead workers
TICK = 1.0  # seconds between two looks at the crawl processes (overdue runs, restarts, memory)
STOP_SLACK = 5.0  # seconds past the grace period before crawl processes still there are killed


def worker_name() -> str:
    return this_process()


async def serve(config: Config, *, concurrency: int) -> None:
    """Run a worker until SIGTERM / SIGINT."""
    from procrastinate.worker import Worker

    from crawler.cluster.jobs import tasks

    app = make_app(config.database, tasks)
    store = Store(config.database)
    # Run records name this worker, as `newsmill workers` and backfill parts do.
    dispatcher = Dispatcher(config, store, workers=config.daemon.workers, worker_name=worker_name(),
                            die_with_parent=True)
    dispatcher.start()
    # One worker at a time hands jobs back: two looking at once could both see a job stalled,
    # and the second hand it back again after a live worker had taken it.
    lock = Lock(config.database, "cluster:stalled-jobs")
    async with app.open_async():
        worker = Worker(
            app,
            queues=[QUEUE],
            name=worker_name(),
            concurrency=concurrency,
            additional_context={"config": config, "dispatcher": dispatcher},
            update_heartbeat_interval=HEARTBEAT,
            stalled_worker_timeout=STALLED_AFTER,
            shutdown_graceful_timeout=config.daemon.grace_period,
            # LISTEN/NOTIFY wakes a worker when a job is queued; the poll is the fallback.
            fetch_job_polling_interval=5.0,
        )
        care = asyncio.create_task(_care(app, worker, store, lock), name="newsmill-care")
        tick = asyncio.create_task(_tick(dispatcher), name="newsmill-tick")
        try:
            await worker.run()
        finally:
            for side in (care, tick):
                side.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await side
            await asyncio.to_thread(_stop_crawls, dispatcher, config.daemon.grace_period + STOP_SLACK)
            store.close()


async def _tick(dispatcher: Dispatcher) -> None:
    while True:
        await asyncio.to_thread(dispatcher.check)
        await asyncio.sleep(TICK)


def _stop_crawls(dispatcher: Dispatcher, timeout: float) -> None:
    """The crawl processes stop (their runs ended with the jobs); killed if they linger."""
    dispatcher.stop_runs()
    if not dispatcher.wait_workers(timeout):
        dispatcher.kill_all(f"still running {timeout:g}s after the stop")
        dispatcher.wait_workers(timeout)


async def _care(app: App, worker: Worker, store: Store, lock: Lock) -> None:
    while worker.worker_id is None:  # procrastinate registers the worker as it starts
        await asyncio.sleep(0.1)
    await asyncio.to_thread(_introduce, store, worker.worker_id)
    while True:
        try:
            if await asyncio.to_thread(lock.acquire):
                try:
                    await retry_stalled_jobs(app)
                    await asyncio.to_thread(_forget_dead, store)
                finally:
                    lock.release()
        except Exception as exc:  # the database away for a while: the next look will do
            log.warning("could not look for stalled jobs: %s", exc)
        await asyncio.sleep(CHECK_EVERY)


async def retry_stalled_jobs(app: App) -> list[int]:
    """Hand the jobs of dead workers back to the queue; their ids."""
    from procrastinate import exceptions
    from procrastinate.jobs import Status

    retried = []
    for job in await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=STALLED_AFTER):
        try:
            await app.job_manager.retry_job(job)
        except exceptions.UniqueViolation:
            # A run of its source is queued already (the scheduler's next due run): that one
            # does the work. Left "doing", the dead job would hold its site's lock for ever.
            await app.job_manager.finish_job(job, status=Status.FAILED, delete_job=False)
            log.warning("job %s (%s) of a dead worker closed: a run of its source is queued", job.id,
                        job.call_string)
            continue
        except exceptions.ConnectorException:
            continue  # another live worker handed it back first
        log.warning("job %s (%s) of a dead worker handed back to the queue", job.id, job.call_string)
        assert job.id is not None
        retried.append(job.id)
    return retried


def _introduce(store: Store, worker_id: int) -> None:
    with store.sessions.begin() as session:
        session.add(ClusterWorker(worker_id=worker_id, host=socket.gethostname(), pid=os.getpid(),
                                  started_at=utcnow()))


def _forget_dead(store: Store) -> None:
    from sqlalchemy import column, table

    alive: Any = select(column("id")).select_from(table("procrastinate_workers"))
    with store.sessions.begin() as session:
        session.execute(delete(ClusterWorker).where(ClusterWorker.worker_id.not_in(alive)))
