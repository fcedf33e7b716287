"""Article URLs out of feeds, sitemaps and robots.txt, with the dates those files state.

Parsing is left to the libraries that do it well: feedparser for RSS and Atom,
Scrapy's sitemap module for sitemaps, sitemap indexes and robots.txt.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lxml import etree
from scrapy.utils.gz import gunzip
from scrapy.utils.sitemap import Sitemap, sitemap_urls_from_robots

__all__ = ["Entry", "NotAFeed", "parse_feed", "parse_sitemap", "sitemap_urls_from_robots"]


class NotAFeed(ValueError):
    """The body is not the XML document it was fetched as."""


@dataclass(frozen=True, slots=True)
class Entry:
    url: str
    title: str | None = None
    published: datetime | None = None


def _from_struct(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromtimestamp(calendar.timegm(value), UTC)


def parse_feed(body: bytes) -> list[Entry]:
    # Imported at the first feed: a crawl of sitemaps alone never needs it, and its import
    # (a hundredth of a second) would sit before the crawl's first request.
    import feedparser

    parsed = feedparser.parse(body)
    if not parsed.get("version") and not parsed.entries:
        raise NotAFeed(str(parsed.get("bozo_exception", "not an RSS or Atom feed")))
    entries = []
    for item in parsed.entries:
        link = item.get("link")
        if not link:
            continue
        published = _from_struct(item.get("published_parsed") or item.get("updated_parsed"))
        entries.append(Entry(link, item.get("title"), published))
    return entries


def _parse_date(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class _NewsSitemap(Sitemap):
    """Scrapy's parser keeps only the direct children of <url>; Google News sitemaps nest
    the publication date and title one level down, in <news:news>."""

    def _process_sitemap_element(self, elem: etree._Element) -> dict[str, Any] | None:
        news = {
            "news_" + name: child.text.strip()
            for child in elem.iter()
            if (name := self._get_tag_name(child)) in {"publication_date", "title"} and child.text
        }
        entry = super()._process_sitemap_element(elem)  # clears elem: read it first
        return {**entry, **news} if entry is not None else None


def parse_sitemap(body: bytes, max_size: int) -> tuple[str, Iterator[Entry]]:
    """('sitemapindex', sitemaps) or ('urlset', articles)."""
    if body[:3] == b"\x1f\x8b\x08":  # gzip magic: a .xml.gz served without Content-Encoding
        body = gunzip(body, max_size=max_size)
    try:
        sitemap = _NewsSitemap(body)
    except (etree.XMLSyntaxError, StopIteration) as exc:
        raise NotAFeed(f"not a sitemap: {exc}") from None
    if sitemap.type not in {"sitemapindex", "urlset"}:
        raise NotAFeed(f"not a sitemap: its root element is <{sitemap.type}>")

    def entries() -> Iterator[Entry]:
        for item in sitemap:
            published = _parse_date(item.get("news_publication_date") or item.get("lastmod"))
            yield Entry(item["loc"], item.get("news_title"), published)

    return sitemap.type, entries()
