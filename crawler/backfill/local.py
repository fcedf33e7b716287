"""A backfill on this machine: each part not done yet, crawled in a process of its own, in turn.

A process per part: Scrapy's reactor runs once per process, and a part's crawl (a sitemap of
up to 50,000 URLs) holds what it lists only while it runs, so memory does not grow with the
backfill. The crawl processes run in a session of their own: a Ctrl-C reaches this process,
which asks the running part to stop (one SIGINT: Scrapy closes the crawl cleanly, the part is
marked pending again) and says how to resume; so does SIGTERM.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Sequence

from crawler.backfill.window import Window
from crawler.config import Config, SourceConfig
from pipelines.storage import backfill
from pipelines.storage.database import Store
from pipelines.storage.models import BackfillPart

INTERRUPTED = 130


def part_command(config: Config, source: str, part_id: int, progress: float) -> list[str]:
    config_args = ["--config", str(config.path)] if config.path else []
    return [
        sys.executable, "-m", "crawler.cli", *config_args,
        "backfill", source, "--part", str(part_id), "--progress", str(progress),
    ]


def crawl_parts(
    config: Config, source: SourceConfig, window: Window, store: Store, *, progress: float
) -> int:
    """Crawl the parts not done; 0 when every part is done, 1 when some failed, 130 on Ctrl-C."""
    # The planning crawl left Scrapy's handlers in place, which only stop a reactor now gone.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    left = [backfill.PENDING, backfill.RUNNING, backfill.FAILED]
    todo = backfill.parts(store, source.name, window.key, left)
    done_before = len(backfill.parts(store, source.name, window.key, [backfill.DONE]))
    if done_before:
        print(f"[{source.name}] {done_before} part(s) done before: skipped", file=sys.stderr, flush=True)
    failed = 0
    for number, part in enumerate(todo, 1):
        print(f"[{source.name}] part {number}/{len(todo)}: {_describe(part)}", file=sys.stderr, flush=True)
        code = _run(part_command(config, source.name, part.id, progress))
        if code == INTERRUPTED:
            return INTERRUPTED
        failed += code != 0
    return 1 if failed else 0


def _describe(part: BackfillPart) -> str:
    return part.url + (f" (last changed {part.lastmod:%Y-%m-%d})" if part.lastmod else "")


def _run(command: Sequence[str]) -> int:
    child = subprocess.Popen(command, start_new_session=True)
    try:
        return child.wait()
    except KeyboardInterrupt:
        child.send_signal(signal.SIGINT)
        try:
            child.wait()
        except KeyboardInterrupt:  # a second Ctrl-C: the part is left running, crawled again later
            child.kill()
            child.wait()
        return INTERRUPTED
