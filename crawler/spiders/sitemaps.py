"""The sitemap planner of a backfill: which sitemaps list a source's articles, not the articles.

It reads robots.txt and the sitemap indexes they name, keeps the child sitemaps whose
lastmod does not rule them out, and leaves each of them to be crawled later as one part. A
sitemap named directly that lists articles is a part itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any, Self

from scrapy import Request, Spider
from scrapy.crawler import Crawler
from scrapy.http import Response
from twisted.python.failure import Failure

from common.urls import canonicalize, host_of, on_domains, site_key
from crawler import failures
from crawler.backfill.window import Window
from crawler.config import Config, SourceConfig
from crawler.discovery import NotAFeed, parse_sitemap, sitemap_urls_from_robots
from crawler.settings import settings_for
from pipelines.storage.backfill import PlannedPart


class SitemapPlanSpider(Spider):
    name = "sitemap_plan"
    custom_settings = {  # noqa: RUF012  (Scrapy's own attribute)
        # Nothing is stored and no run is recorded: the parts are, by whoever planned.
        "ITEM_PIPELINES": {},
        "EXTENSIONS": {"crawler.extensions.RunRecorder": None, "crawler.extensions.Progress": None},
    }

    def __init__(self, source: SourceConfig, config: Config, window: Window, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.source = source
        self.config = config
        self.window = window
        self.domains = frozenset(
            site_key(d) for d in [*source.domains, *(host_of(u) for u in source.seeds())] if d
        )
        self.parts: dict[str, PlannedPart] = {}
        self.ruled_out = 0  # child sitemaps last changed before the window
        self.indexes = 0
        self.errors: list[str] = []
        self.seen: set[str] = set()

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> Self:
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.settings.setdict(settings_for(spider.config, spider.source), priority="spider")
        return spider

    async def start(self) -> AsyncIterator[Request]:
        for url in self.source.sitemaps:
            is_robots = url.rstrip("/").endswith("/robots.txt")
            yield Request(
                url, self.parse_robots if is_robots else self.parse_sitemap, errback=self.on_error,
                dont_filter=True,
            )

    def parse_robots(self, response: Response) -> Iterator[Request]:
        for url in sitemap_urls_from_robots(response.body, base_url=response.url):
            yield from self._sitemap(url)

    def _sitemap(self, url: str) -> Iterator[Request]:
        canonical = canonicalize(url)
        if canonical and on_domains(canonical, self.domains) and canonical not in self.seen:
            self.seen.add(canonical)
            yield Request(canonical, self.parse_sitemap, errback=self.on_error)

    def parse_sitemap(self, response: Response) -> None:
        try:
            kind, entries = parse_sitemap(response.body, self.settings.getint("DOWNLOAD_MAXSIZE"))
        except NotAFeed as exc:
            self.errors.append(f"{response.url}: {exc}")
            return
        if kind == "urlset":
            url = canonicalize(response.url) or response.url
            self.parts.setdefault(url, PlannedPart(url))
            return
        self.indexes += 1
        for entry in entries:
            child = canonicalize(entry.url)
            if not child or not on_domains(child, self.domains):
                continue
            if not self.window.changed_since_start(entry.published):
                self.ruled_out += 1
            else:
                # Not fetched here: a child that is an index itself is read by its part's crawl.
                self.parts.setdefault(child, PlannedPart(child, entry.published))

    def on_error(self, failure: Failure) -> None:
        request = failure.request  # type: ignore[attr-defined]
        self.errors.append(f"{request.url}: {failures.describe(failure)}")
