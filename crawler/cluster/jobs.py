"""What a cluster worker does with a job: the crawl, in a process of its own.

A job's crawl runs through newsmill's one-off path (`newsmill crawl SOURCE`, `newsmill
backfill SOURCE --part ID`) in a child process: Scrapy's reactor runs once per process, and a
crawl that crashes takes only itself down. The child dies with its worker (PR_SET_PDEATHSIG):
a worker killed with kill -9 leaves no crawl behind that would go on beside the retried job.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import sys
from typing import TYPE_CHECKING

from procrastinate import Blueprint, JobContext, RetryStrategy

if TYPE_CHECKING:
    from crawler.config import Config

WORKER_ENV = "NEWSMILL_WORKER"  # the worker's name, as a part's crawl records it

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


@tasks.task(name="crawl", pass_context=True)
async def crawl(context: JobContext, source: str) -> None:
    # --wait 0: a crawl of the source already running elsewhere (`newsmill crawl`) does this run's work.
    code = await run_child(context, ["crawl", source, "-q", "--wait", "0", "--trigger", "cluster"])
    if code != 0:
        raise CrawlFailed(f"the crawl of {source} exited with status {code}")


@tasks.task(name="backfill_part", pass_context=True, retry=RetryStrategy(max_attempts=3, wait=30))
async def backfill_part(context: JobContext, source: str, part_id: int) -> None:
    code = await run_child(context, ["backfill", source, "--part", str(part_id), "-q"])
    if code != 0:
        raise CrawlFailed(f"part {part_id} of the backfill of {source} exited with status {code}")
