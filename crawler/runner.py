"""One process, one Scrapy reactor, one crawl per source: the one-off crawl's engine room.

Scrapy's reactor cannot be started twice in a process, so whoever wants crawls repeatedly
(the daemon) starts this in a fresh process each time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from crawler.config import Config, SourceConfig
from pipelines import stats
from pipelines.extraction.pool import ExtractionPool

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.settings import Settings

QUIET_LOGGERS = (
    "scrapy.downloadermiddlewares.retry",
    "scrapy.downloadermiddlewares.robotstxt",
    "scrapy.core.downloader.handlers.http11",
    "scrapy.core.scraper",
)


@dataclass(slots=True)
class CrawlResult:
    source: str
    status: str
    seconds: float
    requests: int = 0
    pages: int = 0
    new: int = 0
    duplicates: int = 0
    revised: int = 0  # among the duplicates: stored articles whose text changed
    skipped: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    error: str | None = None

    @classmethod
    def from_crawler(cls, source: str, crawler: Crawler) -> CrawlResult:
        values: dict[str, Any] = crawler.stats.get_stats() if crawler.stats else {}
        return cls(
            source=source,
            status=values.get(stats.STATUS, "failed"),
            seconds=float(values.get("elapsed_time_seconds", 0.0)),
            requests=int(values.get("downloader/request_count", 0)),
            error=values.get(stats.ERROR),
            **stats.counts(values),
        )


def base_settings(**overrides: Any) -> Settings:
    from scrapy.settings import Settings

    settings = Settings()
    settings.setmodule("crawler.settings", priority="project")
    settings.update(overrides, priority="cmdline")
    return settings


def run_crawls(
    config: Config,
    sources: list[SourceConfig],
    *,
    trigger: str = "cli",
    log_level: str = "ERROR",
    progress_interval: float = 5.0,
    pool: ExtractionPool | None = None,
    **overrides: Any,
) -> list[CrawlResult]:
    """Crawl the sources side by side in this process; block until all are done.

    The caller has checked the database with `schema.prepare` already: it must, before it
    takes the sources' locks, which live in the database too."""
    if pool is not None:  # the caller's, started early and shut down by the caller
        return _crawl(config, sources, pool, trigger, log_level, progress_interval, overrides)
    # The extraction workers start first, so that their imports run on another core while
    # this process imports Scrapy and sets the crawls up; the crawls share them.
    workers = int(overrides.get("NEWSMILL_EXTRACT_WORKERS", -1))
    pool = ExtractionPool(workers if workers > 0 else None).start() if workers != 0 else None
    try:
        return _crawl(config, sources, pool, trigger, log_level, progress_interval, overrides)
    finally:
        if pool is not None:
            pool.shutdown()


def _crawl(
    config: Config,
    sources: list[SourceConfig],
    pool: ExtractionPool | None,
    trigger: str,
    log_level: str,
    progress_interval: float,
    overrides: dict[str, Any],
) -> list[CrawlResult]:
    from scrapy.crawler import CrawlerProcess

    from common import startup
    from crawler.spiders.news import NewsSpider

    startup.import_download_handler()

    settings = base_settings(
        NEWSMILL_SCHEMA_READY=True,
        NEWSMILL_EXTRACT_POOL=pool,
        LOG_LEVEL=log_level,
        NEWSMILL_TRIGGER=trigger,
        NEWSMILL_PROGRESS_INTERVAL=progress_interval,
        **overrides,
    )
    process = CrawlerProcess(settings)
    # Library warnings go to the log, which the terminal shows only with --verbose.
    logging.captureWarnings(True)
    if log_level != "INFO" and log_level != "DEBUG":
        # Failed downloads are counted in the summary; their tracebacks are noise there.
        for name in QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.CRITICAL)
    crawlers = []
    for source in sources:
        crawler = process.create_crawler(NewsSpider)
        crawlers.append((source.name, crawler))
        process.crawl(crawler, source=source, config=config)
    startup.end()
    process.start()
    return [CrawlResult.from_crawler(name, crawler) for name, crawler in crawlers]
