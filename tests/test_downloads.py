"""How newsmill downloads from a site: the per-site concurrency limit, connection reuse, and
robots.txt fetched once.

Scrapy really fetches the fixture site on 127.0.0.1, which records the TCP connection each
request came on.
"""

from __future__ import annotations

from pathlib import Path

from tests.conftest import ARTICLE_PATTERNS, describe, parse_summary, run_newsmill, write_config
from tests.site.server import NewsSite, synthetic_article


def test_a_site_gets_no_more_connections_than_per_domain(site: NewsSite, tmp_path: Path) -> None:
    # Enough articles that the feed yields a burst of requests far above the limit.
    for n in range(40):
        site.add_article(synthetic_article(500 + n, section="world"))
    config = write_config(
        tmp_path,
        {"ledger": {"feeds": [site.url_for("/feed.xml")], "articles": ARTICLE_PATTERNS}},
        crawl={"concurrency": 16, "per_domain": 2},
    )
    result = run_newsmill("crawl", "ledger", config=config)
    assert result.returncode == 0, describe(result)
    assert int(parse_summary(result.stdout)["ledger"]["new"]) >= 40, result.stdout
    article_requests = [r for r in site.requests if r.path.endswith(".html")]
    assert len(article_requests) >= 40
    # Persistent connections, at most two at a time: the same two carry every request.
    assert len({r.connection for r in site.requests}) <= 2, sorted({r.connection for r in site.requests})


def test_a_robots_txt_seed_is_downloaded_once(site: NewsSite, tmp_path: Path) -> None:
    # Obeying robots.txt fetches it before anything else; the seed reads that copy for its
    # Sitemap: lines instead of asking the site for the same file again.
    config = write_config(
        tmp_path,
        {"ledger": {"sitemaps": [site.url_for("/robots.txt")], "articles": ARTICLE_PATTERNS}},
    )
    result = run_newsmill("crawl", "ledger", config=config)
    assert result.returncode == 0, describe(result)
    paths = [r.path for r in site.requests]
    assert paths.count("/robots.txt") == 1, paths
    assert "/sitemap_index.xml" in paths  # its Sitemap: line was followed
    assert int(parse_summary(result.stdout)["ledger"]["new"]) > 0, result.stdout


def test_without_robots_obeyed_a_robots_txt_seed_is_still_read(site: NewsSite, tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        {"ledger": {"sitemaps": [site.url_for("/robots.txt")], "articles": ARTICLE_PATTERNS}},
        crawl={"obey_robots": False},
    )
    result = run_newsmill("crawl", "ledger", config=config)
    assert result.returncode == 0, describe(result)
    paths = [r.path for r in site.requests]
    assert paths.count("/robots.txt") == 1, paths
    assert "/sitemap_index.xml" in paths
