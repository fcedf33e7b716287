"""The record an extracted article travels in, from the item pipelines into the store."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from common.fingerprint import Fingerprint


@dataclass(slots=True)
class ArticleRecord:
    """One extracted article on its way into the store."""

    source: str
    url: str  # canonical
    text: str
    content_hash: str
    fetched_at: datetime
    title: str | None = None
    authors: list[str] = field(default_factory=list)
    published_at: datetime | None = None
    language: str | None = None
    description: str | None = None
    image: str | None = None
    tags: list[str] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)  # other canonical URLs it was reached by
    recheck: bool = False  # a re-fetch of a stored article: a changed text is a new revision
    # A page repeating the article at `url` (its text or canonical URL, met earlier in this
    # crawl): only the URLs it was reached by (`aliases`) are stored, as that article's.
    only_urls: bool = False
    fingerprint: Fingerprint | None = None  # made in the extraction worker, off this process

    def columns(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "url": self.url,
            "title": self.title,
            "authors": self.authors,
            "published_at": self.published_at,
            "language": self.language,
            "description": self.description,
            "image": self.image,
            "tags": self.tags,
            "text": self.text,
            "content_hash": self.content_hash,
            "first_seen_at": self.fetched_at,
            "fetched_at": self.fetched_at,
        }
