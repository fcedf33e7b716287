"""Item pipeline: each downloaded page extracted in the worker pool, then judged an article or not.

Extraction runs in worker processes (pipelines.extraction.pool), never on the reactor thread. Scrapy's
scraper slot (SCRAPER_SLOT_MAX_ACTIVE_SIZE) holds downloads back while pages wait here.
"""

from __future__ import annotations

from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, Self

from scrapy import Request, signals
from scrapy.crawler import Crawler

from common.fingerprint import Fingerprint
from common.items import PageItem, PageSkipped
from pipelines import stats
from pipelines.extraction import limits
from pipelines.extraction.extracted import Extracted, PageResult
from pipelines.extraction.pool import ExtractionPool


@dataclass(slots=True)
class ExtractedPage:
    page: PageItem
    extracted: Extracted
    content_hash: str
    fingerprint: Fingerprint | None = None


class ExtractPipeline:
    def __init__(self, crawler: Crawler, pool: ExtractionPool | None, workers: int) -> None:
        self.crawler = crawler
        # A pool given in the settings is shared by the process's crawlers and started and
        # shut down by its owner (crawler.runner); otherwise this pipeline keeps its own.
        self.shared = pool is not None
        self.pool = pool
        self.workers = workers

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        settings = crawler.settings
        workers = settings.getint("NEWSMILL_EXTRACT_WORKERS", -1)
        pipeline = cls(crawler, settings.get("NEWSMILL_EXTRACT_POOL"), workers)
        crawler.signals.connect(pipeline.request_scheduled, signal=signals.request_scheduled)
        return pipeline

    def request_scheduled(self, request: Request) -> None:
        # Without a shared pool, this one starts with the first article request, so that its
        # start-up overlaps that page's download and a run that finds nothing new never pays.
        if self.pool is None and self.workers != 0 and request.callback == self._article_callback():
            self._own_pool()

    def _article_callback(self) -> Any:
        spider = self.crawler.spider
        return getattr(spider, "parse_article", None)

    def _own_pool(self) -> ExtractionPool:
        if self.pool is None:
            self.pool = ExtractionPool(self.workers if self.workers > 0 else None).start()
        return self.pool

    def close_spider(self) -> None:
        if self.pool is not None and not self.shared:
            self.pool.shutdown()

    async def process_item(self, item: Any) -> Any:
        if not isinstance(item, PageItem):
            return item
        try:
            result = await self._extract(item)
        except (BrokenProcessPool, MemoryError, RecursionError) as exc:
            stats.error(self.crawler.stats, "extraction failed")
            raise PageSkipped("extraction failed", item.url) from exc
        if result.skipped or result.extracted is None:
            reason = result.skipped or "extraction failed"
            stats.skip(self.crawler.stats, reason)
            raise PageSkipped(reason, item.url)
        extracted = result.extracted
        if not extracted.text or not extracted.has_text:
            # Next to no text (a 5 MiB <title> over a body of "x") is no text, listed or not.
            stats.skip(self.crawler.stats, stats.NO_TEXT)
            raise PageSkipped(stats.NO_TEXT, item.url)
        if not extracted.is_article(item.listed_as_article):
            stats.skip(self.crawler.stats, "not an article")
            raise PageSkipped("not an article", item.url)
        extracted = limits.capped(extracted)
        stats.extracted(self.crawler.stats, extracted)
        return ExtractedPage(item, extracted, result.content_hash, result.fingerprint)

    async def _extract(self, item: PageItem) -> PageResult:
        if self.workers == 0:  # NEWSMILL_EXTRACT_WORKERS=0: inline, for debugging
            from pipelines.extraction.worker import process_page

            return process_page(item.body, item.content_type, item.final_url)
        return await self._own_pool().process(item.body, item.content_type, item.final_url)
