"""Feeds and sitemaps into article entries, with the titles and dates they state."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime

import pytest

from crawler.discovery import NotAFeed, parse_feed, parse_sitemap, sitemap_urls_from_robots

RSS = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Ledger</title>
<item><title>Port strike ends</title><link>https://x.org/2024/03/05/port.html?utm_source=rss</link>
<pubDate>Tue, 05 Mar 2024 10:00:00 GMT</pubDate></item>
<item><title>No link here</title></item>
</channel></rss>"""

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Ledger</title>
<entry><title>Rates held</title><link href="https://x.org/2024/03/06/rates.html"/>
<updated>2024-03-06T08:30:00+01:00</updated></entry></feed>"""

NEWS_SITEMAP = b"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
        xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">
<url><loc>https://x.org/2024/03/07/vote.html</loc>
<news:news><news:publication><news:name>Ledger</news:name><news:language>en</news:language>
</news:publication><news:publication_date>2024-03-07T12:00:00Z</news:publication_date>
<news:title>Vote delayed</news:title></news:news></url>
<url><loc>https://x.org/about.html</loc><lastmod>2023-01-01</lastmod></url>
</urlset>"""

INDEX = b"""<?xml version="1.0" encoding="UTF-8"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
<sitemap><loc>https://x.org/sitemap-news.xml</loc></sitemap>
<sitemap><loc>https://x.org/sitemap-2024.xml.gz</loc></sitemap></sitemapindex>"""


def test_rss_entries_keep_title_and_date_and_skip_linkless_items() -> None:
    [entry] = parse_feed(RSS)
    assert entry.url.startswith("https://x.org/2024/03/05/port.html")
    assert entry.title == "Port strike ends"
    assert entry.published == datetime(2024, 3, 5, 10, tzinfo=UTC)


def test_atom_entries_have_timezone_aware_dates() -> None:
    [entry] = parse_feed(ATOM)
    assert entry.url == "https://x.org/2024/03/06/rates.html"
    assert entry.published == datetime(2024, 3, 6, 7, 30, tzinfo=UTC)


@pytest.mark.parametrize("body", [b"<html><body>Not a feed</body></html>", b"", b"\x89PNG\r\n"])
def test_a_feed_that_is_not_xml_is_refused(body: bytes) -> None:
    with pytest.raises(NotAFeed):
        parse_feed(body)


def test_news_sitemap_gives_publication_date_and_title() -> None:
    kind, entries = parse_sitemap(NEWS_SITEMAP, max_size=10**6)
    vote, about = list(entries)
    assert kind == "urlset"
    assert (vote.title, vote.published) == ("Vote delayed", datetime(2024, 3, 7, 12, tzinfo=UTC))
    assert about.published == datetime(2023, 1, 1, tzinfo=UTC)  # from lastmod


def test_sitemap_index_lists_its_sitemaps_and_gzip_is_opened() -> None:
    kind, entries = parse_sitemap(gzip.compress(INDEX), max_size=10**6)
    assert kind == "sitemapindex"
    assert [e.url for e in entries] == ["https://x.org/sitemap-news.xml", "https://x.org/sitemap-2024.xml.gz"]


@pytest.mark.parametrize("body", [b"<html><body>oops</body></html>", b"plain text", b""])
def test_a_sitemap_that_is_not_xml_is_refused(body: bytes) -> None:
    with pytest.raises(NotAFeed):
        parse_sitemap(body, max_size=10**6)


def test_robots_txt_sitemap_lines_are_found() -> None:
    robots = b"User-agent: *\nDisallow: /private/\nSitemap: https://x.org/sitemap-index.xml\n"
    assert list(sitemap_urls_from_robots(robots, base_url="https://x.org/robots.txt")) == [
        "https://x.org/sitemap-index.xml"
    ]
