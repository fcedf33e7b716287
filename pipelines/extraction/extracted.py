"""What extraction yields for one page: plain records.

Kept apart from the extraction code so that the crawl process, which receives these records
from the extraction workers, does not import the extraction libraries itself.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from common.fingerprint import Fingerprint

MIN_ARTICLE_CHARS = 400  # below this a page with no article markup is judged not an article
# Below these no page is an article, whatever vouches for it (a pattern, a feed, its markup): a
# one-line breaking-news item has more, a 5 MiB <title> over a body of "x" has not.
MIN_TEXT_CHARS, MIN_TEXT_WORDS = 40, 6


@dataclass(slots=True)
class Extracted:
    """What one page yields. `text` is the body only, paragraphs separated by newlines."""

    text: str = ""
    title: str | None = None
    authors: list[str] = field(default_factory=list)
    published_at: datetime | None = None
    language: str | None = None
    description: str | None = None
    image: str | None = None
    tags: list[str] = field(default_factory=list)
    canonical_url: str | None = None  # rel=canonical or og:url as the page states it
    marked_article: bool = False  # og:type article or a JSON-LD Article type on the page
    marked_other: bool = False  # an og:type that is not article (website, video, profile...)

    @property
    def has_text(self) -> bool:
        words = len(self.text.split(None, MIN_TEXT_WORDS))
        return len(self.text) >= MIN_TEXT_CHARS and words >= MIN_TEXT_WORDS

    @property
    def looks_like_article(self) -> bool:
        # A page that names its own type is taken at its word; one that says nothing is
        # judged by how much body text it has.
        if self.marked_article or self.marked_other:
            return self.marked_article
        return len(self.text) >= MIN_ARTICLE_CHARS

    def is_article(self, listed: bool) -> bool:
        """Whether the page is stored as an article. A listing (an `articles` pattern, a feed)
        vouches for a page, unless the page names another type and has too little text to
        show otherwise: a video or podcast page under a dated path, a soft 404 still listed.
        A page nothing vouches for must look like an article. None is with next to no text."""
        if not self.has_text:
            return False
        if listed:
            return not self.marked_other or len(self.text) >= MIN_ARTICLE_CHARS
        return self.looks_like_article

    def to_json(self) -> dict[str, object]:
        record = asdict(self)
        record["published_at"] = self.published_at.isoformat() if self.published_at else None
        return record


@dataclass(slots=True)
class PageResult:
    extracted: Extracted | None = None
    content_hash: str = ""
    fingerprint: Fingerprint | None = None
    skipped: str | None = None  # why the page is not an article at all (binary, empty)
