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
        self.seen_urls: dict[str, str] = {}  # every URL passed on in this run: its article's URL
        self.seen_hashes: dict[str, str] = {}  # content hash: its article's URL

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def process_item(self, item: Any) -> Any:
        if not isinstance(item, ExtractedPage):
            return item
        page, extracted = item.page, item.extracted
        url = canonical_url(item)
        digest = item.content_hash  # computed in the extraction worker
        reached = {u for u in (url, page.url, canonicalize(page.final_url)) if u}
        owner = self.seen_hashes.get(digest) or self.seen_urls.get(url)
        if owner is not None:
            # A repeat of an article passed on earlier in this run: its text is not stored
            # again, but every URL it was reached by is, so that no run downloads it again.
            new_urls = sorted(reached - self.seen_urls.keys())
            if not new_urls:
                self.crawler.stats.inc_value(stats.DUPLICATES)
                raise DropItem(f"duplicate within this run: {page.url}")
            self.seen_urls.update(dict.fromkeys(new_urls, owner))
            return ArticleRecord(
                source=page.source,
                url=owner,
                text="",
                content_hash=digest,
                fetched_at=page.fetched_at,
                aliases=new_urls,
                only_urls=True,
            )
        self.seen_urls.update(dict.fromkeys(reached, url))
        self.seen_hashes[digest] = url
        aliases = sorted(reached - {url})
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
