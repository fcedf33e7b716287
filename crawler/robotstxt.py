"""Downloader middleware: a robots.txt listed as a seed is read from the copy Scrapy fetched.

With ROBOTSTXT_OBEY, Scrapy's RobotsTxtMiddleware downloads a site's robots.txt before any
other request to the site. A source that lists that robots.txt as a seed, for its Sitemap:
lines, would then download it a second time: one more request to the site, and one more
round trip before the first sitemap is known. This middleware keeps the robots.txt responses
Scrapy fetched and answers the seed's request with one of them instead.
"""

from __future__ import annotations

from typing import Self
from urllib.parse import urlsplit

from scrapy import Request, signals
from scrapy.crawler import Crawler
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
