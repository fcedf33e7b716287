"""Scrapy crawls in this process: `run_crawls` for a one-off crawl (one reactor, one crawl per
source, then the process ends), and `CrawlHost` for a crawl worker, which runs crawl after
crawl in one reactor that keeps running.

A CrawlHost sets up once what every crawl of the process shares: Scrapy imported, the
database's engine and connection pool (NEWSMILL_STORE), the extraction pool, the robots.txt
rules fetched (NEWSMILL_ROBOTS_CACHE) and one download slot per host (NEWSMILL_HOST_SLOTS,
so that two sources on one host keep to its per_domain and delay together). A crawl then
costs a Scrapy Crawler (its settings, components and engine) and what it fetches.
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from crawler import crawlstart
from crawler.config import Config, SourceConfig
from pipelines import stats
from pipelines.extraction.pool import ExtractionPool

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.settings import Settings
    from twisted.internet.defer import Deferred

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
        try:
            values: dict[str, Any] = crawler.stats.get_stats() if crawler.stats else {}
        except RuntimeError:  # the crawl failed before Scrapy made its stats (Crawler.stats raises)
            values = {}
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


def _copy_settings(settings: Any, memo: dict[int, Any]) -> Any:
    """What copy.deepcopy makes of Scrapy settings, at a fifth of the cost: the containers
    copied (each setting's SettingsAttribute, nested BaseSettings, dicts and lists), the leaves
    (numbers, strings, classes, shared objects such as the pool) kept."""
    from scrapy.settings import BaseSettings, SettingsAttribute

    clone = object.__new__(type(settings))
    clone.__dict__.update(settings.__dict__)
    attributes = {}
    for name, attribute in settings.attributes.items():
        copied = object.__new__(SettingsAttribute)
        value = attribute.value
        if isinstance(value, BaseSettings):
            value = _copy_settings(value, memo)
        elif isinstance(value, dict | list | set):
            value = copy.deepcopy(value, memo)
        copied.__dict__.update(attribute.__dict__)
        copied.value = value
        attributes[name] = copied
    clone.attributes = attributes
    return clone


def _crawl_settings() -> type[Settings]:
    from scrapy.settings import Settings

    class CrawlSettings(Settings):
        """Scrapy's Settings, copied faster: a Crawler copies its settings when it is made,
        deepcopy took a quarter of the CPU of a crawl worker's run that found nothing new."""

        def __deepcopy__(self, memo: dict[int, Any]) -> Any:
            return _copy_settings(self, memo)

    return CrawlSettings


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
    quiet_scrapy(log_level)
    crawlers = []
    for source in sources:
        crawler = process.create_crawler(NewsSpider)
        crawlers.append((source.name, crawler))
        # A backfill part crawls a whole sitemap: the source's max_runtime is for its polls.
        limits = {} if "NEWSMILL_BACKFILL_PART" in overrides else runtime_limits(source)
        process.crawl(crawler, source=source, config=config, run_settings=limits)
    startup.end()
    process.start()
    return [CrawlResult.from_crawler(name, crawler) for name, crawler in crawlers]


def quiet_scrapy(log_level: str) -> None:
    if log_level != "INFO" and log_level != "DEBUG":
        # Failed downloads are counted in the summary; their tracebacks are noise there.
        for name in QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.CRITICAL)


# Seconds past max_runtime at which a run's downloads time out (crawler.deadline): after
# Scrapy's own close at max_runtime (CLOSESPIDER_TIMEOUT), so the run is recorded "timeout".
DEADLINE_MARGIN = 1.0


def runtime_limits(source: SourceConfig) -> dict[str, Any]:
    """The settings that stop a crawl of `source` starting now at its max_runtime: Scrapy's
    gentle close, and a deadline that ends what that close waits for."""
    if not source.max_runtime:
        return {}
    limit = source.max_runtime.total_seconds()
    return {"CLOSESPIDER_TIMEOUT": limit, "NEWSMILL_RUN_DEADLINE": time.monotonic() + limit + DEADLINE_MARGIN}


class CrawlHost:
    """Runs crawls in this process's running reactor, as many at once as it is given, each
    with its own Scrapy Crawler, sharing what is set up once (see the module's docstring).

    The caller has checked the database with `schema.prepare` already, and installed the
    asyncio reactor before anything imported twisted.internet.reactor."""

    def __init__(
        self, database: str, *, log_level: str = "ERROR", extract_workers: int = -1, runs: int = 32
    ) -> None:
        """`runs`: how many crawls may run at once, for the size of the connection pool."""
        from common import startup
        from crawler.downloader import HostSlots
        from crawler.robotstxt import RobotsCache
        from pipelines.storage.database import Store
        from pipelines.storage.engine import make_engine

        startup.import_download_handler()
        self.pool = (
            ExtractionPool(extract_workers if extract_workers > 0 else None).start()
            if extract_workers != 0
            else None
        )
        # Each running crawl may hold a connection in its store's writer thread while the
        # reactor thread queries: a pool smaller than that would block the reactor.
        self.store = Store(engine=make_engine(database, connections=runs + 5))
        # The sources' locks of the runs in flight, one connection each on PostgreSQL: pooled,
        # not a connection opened and closed for every run.
        self.lock_engine = make_engine(database, connections=runs)
        settings = base_settings(
            NEWSMILL_SCHEMA_READY=True,
            NEWSMILL_EXTRACT_POOL=self.pool,
            NEWSMILL_EXTRACT_WORKERS=extract_workers,
            NEWSMILL_STORE=self.store,
            NEWSMILL_ROBOTS_CACHE=RobotsCache(),
            NEWSMILL_HOST_SLOTS=HostSlots(),
            NEWSMILL_PROGRESS_INTERVAL=0,
            LOG_LEVEL=log_level,
            # Per-crawl timers the worker has no use for: the daemon watches the worker's memory
            # (daemon.recycle_memory), and a run's counts are in its record (so no stats dump,
            # which Scrapy formats whatever the log level).
            MEMUSAGE_ENABLED=False,
            LOGSTATS_INTERVAL=0,
            STATS_DUMP=False,
        )
        self.settings = _crawl_settings()(settings)
        quiet_scrapy(log_level)
        crawlstart.install(log_level)
        self.crawlers: dict[int, Crawler] = {}  # by run id

    def crawl(
        self, config: Config, source: SourceConfig, *, run_id: int, trigger: str
    ) -> Deferred[CrawlResult]:
        """One run of `source`, recorded in the run record `run_id` (opened by the caller, who
        holds the source's lock). Fires with its result; a crawl that raised gives a
        "failed" result with the exception as its error, and never an errback."""
        from scrapy.crawler import Crawler

        from crawler.spiders.news import NewsSpider

        run_settings: dict[str, Any] = {
            "NEWSMILL_RUN_ID": run_id,
            "NEWSMILL_TRIGGER": trigger,
            "NEWSMILL_SOURCE_LOCKED": True,
            **runtime_limits(source),
        }
        crawler = Crawler(NewsSpider, self.settings)
        self.crawlers[run_id] = crawler
        started = time.monotonic()

        def done(_: Any) -> CrawlResult:
            return CrawlResult.from_crawler(source.name, crawler)

        def failed(failure: Any) -> CrawlResult:
            error = f"the crawl raised {failure.type.__name__}: {failure.getErrorMessage()}"
            try:
                result = CrawlResult.from_crawler(source.name, crawler)
            except Exception:  # whatever state the crawl was left in: the run is still recorded
                result = CrawlResult(source.name, "failed", 0.0)
            result.status = "failed"
            result.error = error
            result.seconds = result.seconds or time.monotonic() - started
            return result

        def forget(result: CrawlResult) -> CrawlResult:
            self.crawlers.pop(run_id, None)
            return result

        try:
            running = crawler.crawl(source=source, config=config, run_settings=run_settings)
        except Exception:  # raised before its Deferred existed
            from twisted.internet.defer import fail

            running = fail()
        return running.addCallbacks(done, failed).addBoth(forget)

    def stop(self, run_id: int | None = None) -> None:
        """Ask one run (or every run) to stop: Scrapy finishes the downloads in flight, stores
        what it has and the run is recorded "interrupted"."""
        from scrapy.utils.defer import deferred_from_coro

        for key, crawler in list(self.crawlers.items()):
            if run_id is None or key == run_id:
                deferred_from_coro(crawler.stop_async())

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()
        self.store.engine.dispose()
        self.lock_engine.dispose()
