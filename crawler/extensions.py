"""Scrapy extensions: the crawl-run record, and a progress line while a crawl runs."""

from __future__ import annotations

import logging
import sys
import time
from typing import TYPE_CHECKING, Any, Self, TextIO

from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from twisted.internet import task

from common.processes import this_process
from pipelines import closing, stats
from pipelines.storage import schema
from pipelines.storage.database import ABANDONED, Store
from pipelines.storage.models import utcnow
from pipelines.store import SPOOLED

if TYPE_CHECKING:
    from crawler.spiders.news import NewsSpider

log = logging.getLogger(__name__)

# Scrapy's close reasons, as a crawl-run status.
_STATUS = {
    "finished": "ok",
    "shutdown": "interrupted",
    "closespider_timeout": "timeout",
    "closespider_pagecount": "ok",
}


class RunRecorder:
    """Writes one crawl-run record per crawl: started when the spider opens, closed with
    its counts and status when it closes. With NEWSMILL_RUN_ID the record was opened by
    whoever launched the crawl (the daemon), and this crawl fills it in. With
    NEWSMILL_SOURCE_LOCKED (the launcher holds the source's lock), runs of the source that a
    killed crawl left "running" are closed first."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        # The first component to touch the database: `scrapy crawl` gets a usable schema too,
        # and never runs on an outdated one. newsmill's own entry points checked already.
        if not crawler.settings.getbool("NEWSMILL_SCHEMA_READY"):
            schema.prepare(crawler.settings["NEWSMILL_DATABASE"])
        self.store = Store.for_crawl(crawler.settings)
        self.run_id: int | None = crawler.settings.getint("NEWSMILL_RUN_ID") or None
        self.trigger = crawler.settings.get("NEWSMILL_TRIGGER", "cli")
        self.locked = crawler.settings.getbool("NEWSMILL_SOURCE_LOCKED")
        # Who runs the crawl: a cluster worker names itself for the parts it crawls in a child.
        self.worker = crawler.settings.get("NEWSMILL_WORKER_NAME") or this_process()
        self.status: str | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        if not crawler.settings.get("NEWSMILL_DATABASE"):
            raise NotConfigured("no database")
        recorder = cls(crawler)
        crawler.signals.connect(recorder.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(recorder.spider_closed, signal=signals.spider_closed)
        return recorder

    def spider_opened(self, spider: NewsSpider) -> None:
        if self.locked:
            for run_id in self.store.close_abandoned_runs(spider.source.name, keep=self.run_id):
                log.warning("closed run %d of %s: %s", run_id, spider.source.name, ABANDONED)
        if self.run_id is None:
            self.run_id = self.store.start_run(spider.source.name, self.trigger, self.worker)

    async def spider_closed(self, spider: NewsSpider, reason: str) -> None:
        failure = getattr(spider, "failure", None)
        spooled = self.crawler.stats.get_value(SPOOLED, 0)
        if spooled and not failure:
            # Nothing is lost, but the run's work is not in the database: say so, exit 1.
            failure = (
                f"database unavailable: {spooled} article(s) spooled, stored at the next run "
                "or by `newsmill db replay`"
            )
        self.status = "failed" if failure else _STATUS.get(reason, "failed")
        if reason == "closespider_timeout":
            # Stopped at max_runtime: what it could not reach by then is the error, not the status.
            self.status = "timeout"
        error = failure or (None if self.status in {"ok", "interrupted", "timeout"} else reason)
        self.crawler.stats.set_value(stats.STATUS, self.status)
        if error:
            self.crawler.stats.set_value(stats.ERROR, error)
        values = self.crawler.stats.get_stats()
        counts = {**stats.counts(values), "extraction": stats.extraction(values)}
        try:
            if self.run_id is not None:
                run_id, status, finished_at = self.run_id, self.status, utcnow()
                entry = {
                    "_kind": "run",
                    "source": spider.source.name,
                    "run_id": run_id,
                    "status": status,
                    "counts": counts,
                    "error": error,
                    "finished_at": finished_at.isoformat(),
                }
                await closing.write_or_spool(
                    self.crawler,
                    lambda: self.store.finish_run(run_id, status, counts, error, finished_at=finished_at),
                    entry,
                )
        finally:
            self.store.close()


class Progress:
    """A line every few seconds on stderr: what this crawl has done so far."""

    def __init__(self, crawler: Crawler, interval: float, stream: TextIO) -> None:
        self.crawler = crawler
        self.interval = interval
        self.stream = stream
        self.started = time.monotonic()
        self.ticker: task.LoopingCall | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        interval = crawler.settings.getfloat("NEWSMILL_PROGRESS_INTERVAL", 0)
        if interval <= 0:
            raise NotConfigured("progress display off")
        progress = cls(crawler, interval, sys.stderr)
        crawler.signals.connect(progress.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(progress.spider_closed, signal=signals.spider_closed)
        return progress

    def spider_opened(self, spider: NewsSpider) -> None:
        self.ticker = task.LoopingCall(self.report, spider)
        self.ticker.start(self.interval, now=False)

    def spider_closed(self, spider: NewsSpider) -> None:
        if self.ticker is not None and self.ticker.running:
            self.ticker.stop()

    def report(self, spider: NewsSpider) -> None:
        values: dict[str, Any] = self.crawler.stats.get_stats()
        c = stats.counts(values)
        requests = values.get("downloader/request_count", 0)
        elapsed = time.monotonic() - self.started
        print(
            f"[{spider.source.name}] {elapsed:5.0f}s  requests {requests}  pages {c['pages']}  "
            f"new {c['new']}  duplicates {c['duplicates']}  skipped {sum(c['skipped'].values())}  "
            f"errors {sum(c['errors'].values())}",
            file=self.stream,
            flush=True,
        )
