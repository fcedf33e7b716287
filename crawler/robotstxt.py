"""Downloader middlewares for robots.txt: a robots.txt listed as a seed is read from the copy
Scrapy fetched (RobotsTxtReuse); a crawl worker's crawls share what they fetched (RobotsTxtMiddleware).

With ROBOTSTXT_OBEY, Scrapy's RobotsTxtMiddleware downloads a site's robots.txt before any
other request to the site. A source that lists that robots.txt as a seed, for its Sitemap:
lines, would then download it a second time: one more request to the site, and one more
round trip before the first sitemap is known. This middleware keeps the robots.txt responses
Scrapy fetched and answers the seed's request with one of them instead.
"""

from __future__ import annotations

import time
from typing import Any, Self
from urllib.parse import urlsplit

from scrapy import Request, signals
from scrapy.crawler import Crawler
from scrapy.downloadermiddlewares import robotstxt as scrapy_robotstxt
from scrapy.exceptions import NotConfigured
from scrapy.http import Response


class RobotsTxtReuse:
    def __init__(self) -> None:
        self._fetched: dict[str, Response] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        if not crawler.settings.getbool("ROBOTSTXT_OBEY"):
            raise NotConfigured("robots.txt is not fetched on its own")
        middleware = cls()
        crawler.signals.connect(middleware.response_received, signal=signals.response_received)
        return middleware

    def response_received(self, response: Response, request: Request) -> None:
        # RobotsTxtMiddleware's own request; a robots.txt it could not use is fetched again.
        if not request.meta.get("dont_obey_robotstxt") or response.status != 200:
            return
        url = request.meta.get("redirect_urls", [request.url])[0]
        if urlsplit(url).path == "/robots.txt":
            self._fetched[url] = response

    def process_request(self, request: Request) -> Response | None:
        if not request.meta.get("seed"):
            return None
        response = self._fetched.pop(request.url, None)
        # As if downloaded for the seed: its callback reads the seed's meta from it.
        return response.replace(request=request) if response is not None else None


class RobotsCache:
    """The robots.txt rules of every site a crawl worker's crawls have visited, for an hour.

    Scrapy's RobotsTxtMiddleware keeps what it parsed for one crawl; a worker that polls a
    feed every 30 seconds would fetch the site's robots.txt again at every poll, doubling its
    requests. Crawls in one process share this cache instead (RobotsTxtMiddleware); the whole of
    it is dropped every `ttl` seconds, so a changed robots.txt is obeyed within the hour.
    """

    def __init__(self, ttl: float = 3600.0) -> None:
        self.ttl = ttl
        self._parsers: dict[str, Any] = {}
        self._since = time.monotonic()

    def __deepcopy__(self, memo: dict[int, object]) -> RobotsCache:
        return self  # carried in Scrapy's settings, which are copied for every crawler

    def parsers(self) -> dict[str, Any]:
        """The dict a new crawl's middleware keeps its parsers in. A fresh one once the old is
        too old: crawls still running keep theirs, and Scrapy's bookkeeping in it."""
        if time.monotonic() - self._since > self.ttl:
            self._parsers, self._since = {}, time.monotonic()
        return self._parsers


class RobotsTxtMiddleware(scrapy_robotstxt.RobotsTxtMiddleware):
    """Scrapy's own, keeping its parsed robots.txt in NEWSMILL_ROBOTS_CACHE
    when the settings carry one (crawler.runner.CrawlHost does)."""

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        cache: RobotsCache | None = crawler.settings.get("NEWSMILL_ROBOTS_CACHE")
        if cache is not None:
            self._parsers = cache.parsers()
