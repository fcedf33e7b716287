"""What a cluster worker does with a job.

A run of a source goes to the worker's long-lived crawl process (the daemon's: crawler.daemon,
through its Dispatcher), started once with the worker: a poll that finds nothing costs
milliseconds there, not a process's start-up. That process dies at once with its worker
(Init.die_with_parent): a worker killed with kill -9 leaves no crawl behind that would go on
beside the retried job.

A backfill part runs through newsmill's one-off path (`newsmill backfill SOURCE --part ID`) in
a child process of its own: a part crawls a whole sitemap (thousands of pages, minutes), so a
process's start-up (about a second) is nothing beside it, and the memory a part's crawl grows
(its sitemap, its queue of requests) goes back to the machine when the part ends instead of
staying with a process that lives for months. The child dies with its worker too
(PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import signal
import sys
from typing import TYPE_CHECKING

from procrastinate import Blueprint, JobContext, RetryStrategy

from crawler.daemon.dispatch import SKIPPED

if TYPE_CHECKING:
    from crawler.config import Config
    from crawler.daemon.dispatch import Dispatcher
    from crawler.daemon.jobs import RunReport

log = logging.getLogger(__name__)

WORKER_ENV = "NEWSMILL_WORKER"  # the worker's name, as a part's crawl records it
BUSY = "is being crawled by"  # a skipped run's reason when another process crawls the source

tasks = Blueprint()


class CrawlFailed(Exception):
    """The job's crawl ended with a failure; its run record or its part says why."""


def _die_with_parent() -> None:
    # Runs in the child between fork and exec. Linux only; elsewhere the child outlives a
    # killed worker and its part or run is simply crawled again when the job is retried.
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


async def run_child(context: JobContext, args: list[str]) -> int:
    config: Config = context.additional_context["config"]
    config_args = ["--config", str(config.path)] if config.path else []
    env = {**os.environ, WORKER_ENV: context.worker_name or "worker"}
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "crawler.cli", *config_args, *args,
        env=env, preexec_fn=_die_with_parent, start_new_session=True,
    )
    try:
        return await child.wait()
    except asyncio.CancelledError:
        # The worker gave up on the job (its stop's grace ran out): the crawl stops as on
        # Ctrl-C, stores what it has, and its part or run says it was interrupted.
        child.send_signal(signal.SIGINT)
        await child.wait()
        raise


async def run_in_worker(context: JobContext, source: str) -> RunReport:
    """The run's report from the crawl process; cancelled (the worker's stop ran out of grace),
    the run is stopped as on Ctrl-C, recorded "interrupted", and queued again for whichever
    worker is free: handed back."""
    from crawler.cluster.app import defer_crawl_async

    dispatcher: Dispatcher = context.additional_context["dispatcher"]
    config: Config = context.additional_context["config"]
    running = asyncio.wrap_future(dispatcher.run(source, "cluster"))
    try:
        return await asyncio.shield(running)
    except asyncio.CancelledError:
        dispatcher.cancel(source)
        try:
            report = await asyncio.wait_for(running, timeout=config.daemon.grace_period + 5)
        except TimeoutError:
            report = None  # the worker kills its crawl process on the way out
        if (report is None or report.status == "interrupted") and source in config.sources:
            try:
                await defer_crawl_async(context.app, config.sources[source])
            except Exception as exc:  # the database away: the next due run will do
                log.warning("could not hand the run of %s back to the queue: %s", source, exc)
        raise


@tasks.task(name="crawl", pass_context=True)
async def crawl(context: JobContext, source: str) -> None:
    report = await run_in_worker(context, source)
    if report.status == SKIPPED and BUSY in (report.error or ""):
        return  # a crawl of the source already running elsewhere (`newsmill crawl`) does this run's work
    if report.status != "ok":
        raise CrawlFailed(f"the run of {source} ended {report.status}: {report.error or 'no error given'}")


@tasks.task(name="backfill_part", pass_context=True, retry=RetryStrategy(max_attempts=3, wait=30))
async def backfill_part(context: JobContext, source: str, part_id: int) -> None:
    code = await run_child(context, ["backfill", source, "--part", str(part_id), "-q"])
    if code != 0:
        raise CrawlFailed(f"part {part_id} of the backfill of {source} exited with status {code}")
