"""Downloader middleware: conditional requests for the pages a re-crawl reads again.

Requests the spider marks `validators: "conditional"` (feeds, sitemaps, listing pages,
rechecked articles) go out with If-None-Match / If-Modified-Since from the last visit; a
304 answer is counted as "not modified" and reaches the callback empty. Responses to those
and to requests marked `"record"` have their validators remembered. They are written only
when the crawl finishes cleanly, and never for a listing page some of whose articles failed:
a 304 next time must not hide an article this run did not store.
"""

from __future__ import annotations

from typing import Any, Self

from scrapy import Request, Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.http import Response
from sqlalchemy.exc import SQLAlchemyError

from pipelines import closing, stats
from pipelines.storage import validators
from pipelines.storage.database import Store
from pipelines.storage.models import utcnow

NOT_MODIFIED = "not modified"


def _header(response: Response, name: str) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1") if value else None


class ConditionalRequests:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.store = Store.for_crawl(crawler.settings)
        self.found: dict[str, validators.Validators] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        if not crawler.settings.get("NEWSMILL_DATABASE"):
            raise NotConfigured("no database to keep validators in")
        middleware = cls(crawler)
        crawler.signals.connect(middleware.spider_closed, signal=signals.spider_closed)
        return middleware

    def process_request(self, request: Request) -> None:
        if request.meta.get("validators") != "conditional":
            return
        if b"If-None-Match" in request.headers or b"If-Modified-Since" in request.headers:
            return  # a retry or redirect of a request already made conditional
        try:
            known = validators.lookup(self.store, request.url)
        except SQLAlchemyError:  # the database is away: asked in full, as on a first visit
            return
        if known and known.etag:
            request.headers[b"If-None-Match"] = known.etag
        if known and known.last_modified:
            request.headers[b"If-Modified-Since"] = known.last_modified

    def process_response(self, request: Request, response: Response) -> Response:
        mode = request.meta.get("validators")
        if not mode:
            return response
        if response.status == 304:
            stats.skip(self.crawler.stats, NOT_MODIFIED)
        elif response.status == 200:
            found = validators.Validators(_header(response, "ETag"), _header(response, "Last-Modified"))
            if found:
                # Kept under the URL that was asked for, before any redirect: the one the next
                # visit asks for again, and looks them up by.
                self.found[request.meta.get("redirect_urls", [request.url])[0]] = found
        return response

    async def spider_closed(self, spider: Spider, reason: str) -> None:
        try:
            if reason == "finished":
                incomplete: set[str] = getattr(spider, "incomplete", set())
                source: Any = getattr(spider, "source", None)
                name = source.name if source else spider.name
                keep = {u: v for u, v in self.found.items() if u not in incomplete}
                if keep:
                    now = utcnow()
                    entry = {
                        "_kind": "validators",
                        "source": name,
                        "found": {
                            u: [v.etag, v.last_modified, (v.checked_at or now).isoformat()]
                            for u, v in keep.items()
                        },
                    }
                    await closing.write_or_spool(
                        self.crawler, lambda: validators.save(self.store, name, keep), entry
                    )
        finally:
            self.store.close()
