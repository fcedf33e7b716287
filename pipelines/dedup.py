"""Item pipeline: decide what an article is called and whether it was seen before.

An article is named by its canonical URL: the page's own rel=canonical / og:url when it
points into the source's sites, else the URL it was requested by. Its content hash is taken
over the normalised body text, so a syndicated copy at another URL, with no canonical link
to the original, is known for what it is. The store enforces both for good with unique
constraints; this stage catches repeats within a run before they cost a write.
"""

from __future__ import annotations

from typing import Any, Self
from urllib.parse import urljoin

from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem

from common.urls import canonicalize, on_domains
from pipelines import stats
from pipelines.extract import ExtractedPage
from pipelines.storage.records import ArticleRecord


def canonical_url(page: ExtractedPage) -> str:
    stated = page.extracted.canonical_url
    if stated:
        resolved = canonicalize(urljoin(page.page.final_url, stated))
        if resolved and on_domains(resolved, page.page.domains):
            return resolved
    return page.page.url


class DedupPipeline:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.seen_urls: set[str] = set()
        self.seen_hashes: set[str] = set()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def process_item(self, item: Any) -> Any:
        if not isinstance(item, ExtractedPage):
            return item
        page, extracted = item.page, item.extracted
        url = canonical_url(item)
        digest = item.content_hash  # computed in the extraction worker
        if url in self.seen_urls or digest in self.seen_hashes:
            self.crawler.stats.inc_value(stats.DUPLICATES)
            raise DropItem(f"duplicate within this run: {page.url}")
        self.seen_urls.add(url)
        self.seen_hashes.add(digest)
        aliases = sorted({u for u in (page.url, canonicalize(page.final_url)) if u and u != url})
        return ArticleRecord(
            source=page.source,
            url=url,
            text=extracted.text,
            content_hash=digest,
            fetched_at=page.fetched_at,
            title=extracted.title or page.feed_title,
            authors=extracted.authors,
            published_at=extracted.published_at or page.feed_published,
            language=extracted.language,
            description=extracted.description,
            image=extracted.image,
            tags=extracted.tags,
            aliases=aliases,
            recheck=page.recheck,
            fingerprint=item.fingerprint,
        )
