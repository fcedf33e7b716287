"""The extraction pool: pages extracted in worker processes; a worker that dies costs its page,
not the crawl."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
from concurrent.futures.process import BrokenProcessPool

import pytest

from common.startup import CRAWL_GC_THRESHOLD
from pipelines.extraction.extracted import PageResult
from pipelines.extraction.pool import EXTRACTION_NICENESS, ExtractionPool
from tests.conftest import python_output, run_python

PAGE = (
    b"<html lang='en'><head><title>Harbour plan approved</title></head><body><article>"
    b"<h1>Harbour plan approved</h1>"
    + b"".join(
        b"<p>Paragraph %d: the council voted on the harbour plan late on Tuesday, with the mayor "
        b"and three members against it and the rest in favour after a long debate.</p>" % i
        for i in range(8)
    )
    + b"</article></body></html>"
)
HTML = "text/html; charset=utf-8"


def extract(pool: ExtractionPool, url: str) -> PageResult:
    return asyncio.run(pool.process(PAGE, HTML, url))


def test_pages_are_extracted_in_worker_processes() -> None:
    pool = ExtractionPool(2).start()
    try:
        result = extract(pool, "http://news.example/harbour.html")
        worker = pool._executor.submit(os.getpid).result()  # type: ignore[union-attr]
    finally:
        pool.shutdown()
    assert worker != os.getpid()
    assert result.extracted is not None
    assert result.extracted.title == "Harbour plan approved"
    assert "Paragraph 3: the council voted" in result.extracted.text
    assert result.content_hash
    assert result.fingerprint is not None and result.fingerprint.usable


def test_a_dead_worker_costs_its_page_and_the_next_pages_are_extracted() -> None:
    pool = ExtractionPool(1).start()
    try:
        extract(pool, "http://news.example/first.html")
        worker = pool._executor.submit(os.getpid).result()  # type: ignore[union-attr]
        os.kill(worker, signal.SIGKILL)  # as the kernel's OOM killer would
        with pytest.raises(BrokenProcessPool):
            extract(pool, "http://news.example/lost.html")
        after = extract(pool, "http://news.example/next.html")
    finally:
        pool.shutdown()
    assert after.extracted is not None and after.extracted.title == "Harbour plan approved"


def test_the_crawl_process_does_not_load_the_extraction_libraries() -> None:
    # The crawl process only sends pages and receives records: trafilatura (a third of a
    # second to import, on the reactor thread at the first page) belongs in the workers.
    script = (
        "import asyncio, sys\n"
        "from pipelines.extraction.pool import ExtractionPool\n"
        "pool = ExtractionPool(1).start()\n"
        f"result = asyncio.run(pool.process({PAGE!r}, {HTML!r}, 'http://news.example/a.html'))\n"
        "pool.shutdown()\n"
        "print(result.extracted.title, 'trafilatura' in sys.modules, 'lxml' in sys.modules)\n"
    )
    output = python_output(script)
    assert output.strip() == "Harbour plan approved False False"


def test_warm_up_loads_what_the_full_extraction_cascade_needs() -> None:
    # The forkserver warms up once and forks warm workers: a page that needs trafilatura's
    # full cascade must not make each worker load jusText's stop-word lists (a quarter of a
    # second) then. Run in a fresh process, where nothing is loaded yet.
    script = (
        "import trafilatura.external as external\n"
        "from pipelines.extraction.worker import warm_up\n"
        "before = external.JT_STOPLIST is not None\n"
        "warm_up()\n"
        "print(before, external.JT_STOPLIST is not None)\n"
    )
    output = python_output(script)
    assert output.split() == ["False", "True"]


def test_workers_start_with_what_the_forkserver_loaded_frozen_and_the_crawl_pace_of_collection() -> None:
    pool = ExtractionPool(1).start()
    try:
        threshold = pool._executor.submit(gc.get_threshold).result()  # type: ignore[union-attr]
        frozen = pool._executor.submit(gc.get_freeze_count).result()  # type: ignore[union-attr]
    finally:
        pool.shutdown()
    assert threshold[0] == CRAWL_GC_THRESHOLD
    # trafilatura, lxml, numpy, the language model: some forty thousand objects. Without the
    # freeze, none.
    assert frozen > 20_000


def test_workers_run_at_a_lower_priority_than_the_crawl_process() -> None:
    # The crawl process downloads every page before a worker can extract it: when the CPU is
    # short, at start-up and during the crawl, it goes first.
    pool = ExtractionPool(1).start()
    try:
        worker = pool._executor.submit(os.nice, 0).result()  # type: ignore[union-attr]
    finally:
        pool.shutdown()
    assert worker == min(os.nice(0) + EXTRACTION_NICENESS, 19)  # 19: the lowest there is


def test_preload_outside_the_forkserver_keeps_the_priority() -> None:
    script = (
        "import os\nbefore = os.nice(0)\nimport pipelines.extraction.preload\nprint(before, os.nice(0))\n"
    )
    before, after = python_output(script).split()
    assert before == after


def test_preload_outside_the_forkserver_leaves_the_exit_status_alone() -> None:
    # In the forkserver, pipelines.extraction.preload makes the process leave at once when it stops;
    # imported anywhere else, it must not turn a failing exit into a silent 0.
    run = run_python("import pipelines.extraction.preload; raise SystemExit(3)")
    assert run.returncode == 3, run.stderr


# A crawl process with a started pool, which prints its pid, its pool's workers' and its
# forkserver's, then waits to be killed.
KILLED = """
import asyncio, multiprocessing.forkserver, os, time
from pipelines.extraction.pool import ExtractionPool
pool = ExtractionPool(2).start()
asyncio.run(pool.process(b"<html><body><p>page</p></body></html>", "text/html", "http://a.example/"))
pids = [*pool._executor._processes, multiprocessing.forkserver._forkserver._forkserver_pid]
print(" ".join(map(str, pids)), flush=True)
time.sleep(600)
"""


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"  # ended, not yet reaped
    except FileNotFoundError:
        return True


def test_a_crawl_process_killed_outright_leaves_no_extraction_process_behind() -> None:
    import subprocess
    import sys
    import time

    from tests.conftest import ROOT

    crawl = subprocess.Popen([sys.executable, "-c", KILLED], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert crawl.stdout is not None
        pool = [int(pid) for pid in crawl.stdout.readline().split()]
        assert len(pool) == 3 and not any(_gone(pid) for pid in pool)
    finally:
        crawl.kill()  # SIGKILL: the crawl process shuts nothing down itself
        crawl.wait()
    deadline = time.monotonic() + 30
    while not all(_gone(pid) for pid in pool):
        assert time.monotonic() < deadline, f"still running: {[p for p in pool if not _gone(p)]}"
        time.sleep(0.1)
