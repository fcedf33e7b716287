"""The writes a crawl makes as it closes: its run record, the validators it gathered.

They are kept through a database outage the way articles are (pipelines.store): retried with
backoff for `store.retry_for` seconds, then spooled to local disk, whence the next crawl or
`newsmill db replay` writes them. The terminal gets one line for the outage, whatever the
number of writes waiting on it, and one more only if they had to be spooled.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scrapy.crawler import Crawler
from scrapy.utils.defer import maybe_deferred_to_future
from sqlalchemy.exc import SQLAlchemyError
from twisted.internet import reactor, task, threads

from pipelines.storage import spool
from pipelines.storage.schema import reason

log = logging.getLogger(__name__)

BACKOFF_FIRST, BACKOFF_MAX = 0.5, 10.0  # seconds, as the article writes
DOWN = "newsmill/close/database_down"  # the outage is on the terminal already
SPOOLED = "newsmill/close/spooled"  # closing writes left in the spool


async def write_or_spool(crawler: Crawler, write: Callable[[], Any], entry: dict[str, Any]) -> bool:
    """Run `write` (blocking; on a thread) until it succeeds or `store.retry_for` has passed;
    then put `entry` in the spool (see spool.apply_entry). True if it was written."""
    settings = crawler.settings
    database = settings["NEWSMILL_DATABASE"]
    retry_for = settings.getfloat("NEWSMILL_STORE_RETRY_FOR", 60.0)
    started = time.monotonic()
    attempt = 0
    while True:
        try:
            await maybe_deferred_to_future(threads.deferToThread(write))
            return True
        except SQLAlchemyError as exc:
            if not crawler.stats.get_value(DOWN):
                crawler.stats.set_value(DOWN, True)
                log.error(
                    "database unavailable as the crawl closes (%s); retrying for up to %.0fs",
                    reason(exc, database),
                    retry_for,
                )
        if time.monotonic() - started >= retry_for:
            break
        delay = min(BACKOFF_MAX, BACKOFF_FIRST * 2**attempt)
        attempt += 1
        await maybe_deferred_to_future(task.deferLater(reactor, delay, lambda: None))
    directory = Path(settings.get("NEWSMILL_SPOOL_DIR") or "data/spool")
    spool.write_entries(directory, database, entry.get("source") or "crawl", [entry])
    if not crawler.stats.get_value(SPOOLED):
        # One line for all of them: the writes of a closing crawl give up at the same moment.
        log.error(
            "the database stayed unavailable: what the crawl writes as it closes (its run record, "
            "validators) waits in %s; written at the next run or by `newsmill db replay`",
            directory,
        )
    crawler.stats.inc_value(SPOOLED)
    return False
