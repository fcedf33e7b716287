"""Item pipeline: extraction, in a pool of worker processes.

trafilatura costs tens of milliseconds of CPU per page. Run inline, that would stall
Scrapy's single reactor thread (and with it every download) and leave the other cores
idle, so pages go to a process pool sized to the cores. Scrapy's scraper slot
(SCRAPER_SLOT_MAX_ACTIVE_SIZE) holds downloads back while pages wait here.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, Self

from scrapy import Request, signals
from scrapy.crawler import Crawler

from crawler.decoding import BinaryBody, decode_html
from crawler.items import PageItem, PageSkipped
from pipelines import stats
from pipelines.contenthash import content_hash
from pipelines.extraction import Extracted, extract_article
from pipelines.fingerprint import Fingerprint, fingerprint


@dataclass(slots=True)
class ExtractedPage:
    page: PageItem
    extracted: Extracted
    content_hash: str
    fingerprint: Fingerprint | None = None


@dataclass(slots=True)
class _WorkerResult:
    extracted: Extracted | None = None
    content_hash: str = ""
    fingerprint: Fingerprint | None = None
    skipped: str | None = None


def _extract_page(body: bytes, content_type: str | None, url: str) -> _WorkerResult:
    """Everything CPU-bound about a page, done in a worker: decode, extract, hash, fingerprint."""
    try:
        html = decode_html(body, content_type)
    except BinaryBody as exc:
        return _WorkerResult(skipped=str(exc))
    extracted = extract_article(html, url)
    if not extracted.text:
        return _WorkerResult(extracted)
    return _WorkerResult(extracted, content_hash(extracted.text), fingerprint(extracted.text))


def _warm_up() -> None:
    _extract_page(b"<html><body><article><p>Warm-up.</p></article></body></html>", None, "")


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class ExtractPipeline:
    def __init__(self, crawler: Crawler, workers: int) -> None:
        self.crawler = crawler
        self.workers = workers
        self.pool: Executor | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        workers = crawler.settings.getint("NEWSMILL_EXTRACT_WORKERS", -1)
        pipeline = cls(crawler, default_workers() if workers < 0 else workers)
        crawler.signals.connect(pipeline.request_scheduled, signal=signals.request_scheduled)
        return pipeline

    def request_scheduled(self, request: Request) -> None:
        # The pool starts with the first article request, so its workers' start-up (imports,
        # trafilatura's set-up: most of a second) overlaps that page's download, and a run
        # that finds nothing new never pays for it.
        if self.pool is None and self.workers > 0 and request.callback == self._article_callback():
            self._start_pool()

    def _article_callback(self) -> Any:
        spider = self.crawler.spider
        return getattr(spider, "parse_article", None)

    def _start_pool(self) -> None:
        # forkserver: the crawl process runs threads (DNS, the database), which a plain
        # fork would copy in whatever state they were in.
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["pipelines.extract"])
        self.pool = ProcessPoolExecutor(self.workers, mp_context=context)
        for _ in range(self.workers):
            self.pool.submit(_warm_up)

    def close_spider(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)

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
        if not extracted.text:
            stats.skip(self.crawler.stats, "no article text")
            raise PageSkipped("no article text", item.url)
        if not item.listed_as_article and not extracted.looks_like_article:
            stats.skip(self.crawler.stats, "not an article")
            raise PageSkipped("not an article", item.url)
        return ExtractedPage(item, extracted, result.content_hash, result.fingerprint)

    async def _extract(self, item: PageItem) -> _WorkerResult:
        if self.pool is None and self.workers > 0:
            self._start_pool()
        if self.pool is None:
            return _extract_page(item.body, item.content_type, item.final_url)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self.pool, _extract_page, item.body, item.content_type, item.final_url
        )
