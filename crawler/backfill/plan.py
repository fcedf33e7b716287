"""Plan a backfill: read the source's robots.txt and sitemap indexes, record the parts.

The reading is a Scrapy crawl (crawler.spiders.sitemaps), so robots.txt, the user agent,
retries, timeouts and size limits are the source's own. It starts the reactor of this
process: the parts are crawled in processes of their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from crawler.backfill.window import Window
from crawler.config import Config, SourceConfig
from pipelines.storage import backfill
from pipelines.storage.database import Store


@dataclass(slots=True)
class Plan:
    parts: int = 0  # child sitemaps (or listing sitemaps) in range
    added: int = 0  # of which recorded by this planning (the others were known)
    ruled_out: int = 0  # child sitemaps last changed before the window starts
    indexes: int = 0
    errors: list[str] = field(default_factory=list)


def plan(config: Config, source: SourceConfig, window: Window, store: Store) -> Plan:
    from scrapy.crawler import CrawlerProcess

    from crawler.runner import base_settings
    from crawler.spiders.sitemaps import SitemapPlanSpider

    process = CrawlerProcess(base_settings(LOG_LEVEL="ERROR"))
    crawler = process.create_crawler(SitemapPlanSpider)
    process.crawl(crawler, source=source, config=config, window=window)
    process.start()
    spider = crawler.spider
    assert isinstance(spider, SitemapPlanSpider)
    added = backfill.record(store, source.name, window.key, spider.parts.values())
    return Plan(len(spider.parts), added, spider.ruled_out, spider.indexes, spider.errors)
