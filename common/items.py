"""What the spider hands to the item pipelines: one downloaded page, not yet understood."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from scrapy.exceptions import DropItem


@dataclass(slots=True)
class PageItem:
    source: str
    url: str  # the canonical form of the URL that was requested
    final_url: str  # where redirects ended
    body: bytes  # undecoded: the extraction worker decodes it, off the reactor thread
    content_type: str | None
    fetched_at: datetime
    listed_as_article: bool  # an `articles` pattern, a feed or a sitemap vouched for it
    feed_title: str | None = None
    feed_published: datetime | None = None
    domains: frozenset[str] = field(default_factory=frozenset)  # the source's own sites
    recheck: bool = False  # a stored article fetched again to look for a correction


class PageSkipped(DropItem):
    """A page fetched but not stored for what it is (empty, binary, not an article): the
    reason is counted, and the URL is not fetched again for a while."""

    def __init__(self, reason: str, url: str) -> None:
        super().__init__(f"{reason}: {url}")
        self.reason = reason
        self.url = url
