"""The extraction worker processes of one crawl process, shared by all its crawlers.

trafilatura costs tens of milliseconds of CPU per page: run on Scrapy's single reactor
thread it would stall every download and leave the other cores idle, so pages go to a
process pool sized to the cores.

Starting the pool is most of a second of imports. It is started as early as the crawl
process knows it will crawl, so that this overlaps the process's own start-up on another
core, and it never blocks the reactor: the forkserver does the imports (and one warm-up
extraction, see pipelines.extraction.preload) while a helper thread waits for the workers.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import select
import signal
import sys
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipelines.extraction.extracted import PageResult


# How much lower the workers (and the forkserver they are forked from, which sets it in
# pipelines.extraction.preload) run than the crawl process. While the crawl starts, the forkserver's
# imports (most of half a second) compete for the CPU with the crawl process's own, which come
# first on the way to any page: every page is downloaded there before a worker can extract it.
# During the crawl the crawl process is what keeps the workers fed (downloads, hand-offs,
# database writes) and needs a fraction of a core at short notice. Lowered, the first article
# was requested 0.05 s sooner and more steadily (200 pages, 8 runs each way: median 0.685 s
# against 0.737, none later than 0.71 against up to 0.93). Priority only: where cores are to
# spare, the workers get theirs. On a machine busy with other programs, extraction is what
# yields first; the pages waiting for it hold back downloads (the scraper's byte bound),
# nothing is lost.
EXTRACTION_NICENESS = 5


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class ExtractionPool:
    def __init__(self, workers: int | None = None) -> None:
        self.workers = max(workers if workers is not None else default_workers(), 1)
        self._executor: ProcessPoolExecutor | None = None
        self._spawned: Future[None] = Future()

    def __deepcopy__(self, memo: dict[int, object]) -> ExtractionPool:
        # Scrapy copies the settings for every crawler; they are all to share this one pool.
        return self

    def start(self) -> ExtractionPool:
        """Begin starting the workers; returns at once."""
        if self._executor is None:
            # forkserver: the crawl process runs threads (DNS, the database), which a plain
            # fork would copy in whatever state they were in.
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(_preload_modules())
            self._executor = ProcessPoolExecutor(
                self.workers, mp_context=context, initializer=_start_worker, initargs=(os.getpid(),)
            )
            self._spawned = Future()
            threading.Thread(
                target=self._spawn, args=(self._executor, self._spawned), name="newsmill-pool-start",
                daemon=True,
            ).start()
        return self

    def _spawn(self, executor: ProcessPoolExecutor, spawned: Future[None]) -> None:
        try:
            # The executor spawns one process per task submitted while none is idle; each
            # spawn waits until the forkserver has done its imports.
            for pending in [executor.submit(os.getpid) for _ in range(self.workers)]:
                pending.result()
        except BaseException as exc:  # reported to whoever awaits a page
            spawned.set_exception(exc)
        else:
            spawned.set_result(None)

    async def process(self, body: bytes, content_type: str | None, url: str) -> PageResult:
        """One page through pipelines.extraction.worker.process_page, in a worker process.

        A worker that dies (a crash in a C library, the kernel's OOM killer) breaks the whole
        executor: the pages it held raise BrokenProcessPool, and a new executor takes the
        next ones, so one pathological page costs only itself (and those beside it)."""
        executor = self.start()._executor
        assert executor is not None
        try:
            await asyncio.wrap_future(self._spawned)
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(executor, _process_page, body, content_type, url)
        except BrokenProcessPool:
            if self._executor is executor:
                executor.shutdown(wait=False, cancel_futures=True)
                self._executor = None
            raise

    def shutdown(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None


def _start_worker(crawl_pid: int) -> None:
    # Ctrl-C reaches every process of the terminal's group; the crawl process handles it
    # (it stops the crawl, then the pool). A worker must finish its page, not die mid-page
    # with a traceback and fail it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_with(crawl_pid)


def _exit_with(crawl_pid: int) -> None:
    """End this worker when the crawl process ends, however it ends.

    A crawl process killed outright (kill -9, the OOM killer) closes nothing: its workers
    would wait on their task queue for good (each holds both ends of its pipe), and the
    forkserver with them (it lives while any process it forked does). Weeks of a cron job
    killed at a timeout would leave hundreds of them."""
    try:
        watched = os.pidfd_open(crawl_pid)
    except ProcessLookupError:  # gone already, before this worker even started
        os._exit(0)
    except (AttributeError, OSError):  # not Linux 5.3+: the crawl process's own shutdown must do
        return

    def wait() -> None:
        select.select([watched], [], [])  # readable once the process has ended
        os._exit(0)

    threading.Thread(target=wait, name="newsmill-exit-with-crawl", daemon=True).start()


def _process_page(body: bytes, content_type: str | None, url: str) -> PageResult:
    """pipelines.extraction.worker.process_page, named from here: the crawl process pickles a reference
    to this function, and so imports this module, not the extraction libraries."""
    from pipelines.extraction.worker import process_page  # preloaded in the worker: no import cost

    return process_page(body, content_type, url)


def _preload_modules() -> list[str]:
    """What the forkserver imports before it forks the workers, so that they inherit it.

    A worker also imports the parent's main module again (multiprocessing does, to find
    functions pickled by reference): preloaded, it is imported once, not once per worker."""
    main = sys.modules["__main__"]
    name = getattr(getattr(main, "__spec__", None), "name", None)
    return ["__main__", *([name] if name else []), "pipelines.extraction.preload"]
