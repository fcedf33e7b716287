"""A source that lists more article URLs than Scrapy's scheduler is given at a time: the spider
keeps the rest and hands them over as the crawl runs dry. A real crawl of the fixture site."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.conftest import ARTICLE_PATTERNS, export_records, python_output, write_config
from tests.site.server import NewsSite, synthetic_article

LISTED = 60
BOUND = 4  # NEWSMILL_MAX_SCHEDULED for this crawl
# Besides the article requests, the sitemaps of robots.txt's index can wait in the scheduler.
SITEMAPS = 3


def crawl_counting_the_queue(config: Path, bound: int) -> int:
    """Crawl the config's sources in a fresh process; the most requests the scheduler held."""
    script = (
        "from scrapy import signals\n"
        "from crawler.config import load_config\n"
        "from crawler.runner import run_crawls\n"
        "from pipelines.storage import schema\n"
        "class Probe:\n"
        "    most = 0\n"
        "    @classmethod\n"
        "    def from_crawler(cls, crawler):\n"
        "        probe = cls()\n"
        "        probe.crawler = crawler\n"
        "        crawler.signals.connect(probe.scheduled, signal=signals.request_scheduled)\n"
        "        return probe\n"
        "    def scheduled(self, request, spider):\n"
        "        # Sent before the request joins the queue: count it in.\n"
        "        Probe.most = max(Probe.most, len(self.crawler.engine.scheduler) + 1)\n"
        f"config = load_config({str(config)!r})\n"
        "schema.prepare(config.database)\n"
        "run_crawls(config, list(config.sources.values()), EXTENSIONS={'__main__.Probe': 0},\n"
        f"           NEWSMILL_EXTRACT_WORKERS=0, NEWSMILL_MAX_SCHEDULED={bound})\n"
        "print('most queued:', Probe.most)\n"
    )
    output = python_output(script)
    return int(output.split("most queued:")[1])


def test_every_listed_article_is_stored_while_the_scheduler_holds_only_a_few(tmp_path: Path) -> None:
    with NewsSite(fixtures=False) as site:
        now = datetime.now(UTC)
        for n in range(1, LISTED + 1):
            site.add_article(synthetic_article(n, published=now - timedelta(minutes=n)))
        # robots.txt names a sitemap index: a news sitemap and a plain one list every article.
        config = write_config(tmp_path, {"ledger": {
            "sitemaps": [site.url_for("/robots.txt")], "articles": list(ARTICLE_PATTERNS)}})
        most = crawl_counting_the_queue(config, BOUND)
        articles = {a.path for a in site.main_articles()}
        fetched = [r.path for r in site.requests if r.path in articles]
        stored = {r["url"].removeprefix(site.url) for r in export_records(config)}
    assert most <= BOUND + SITEMAPS, f"the scheduler held {most} requests"
    assert sorted(fetched) == sorted(articles), "each listed article fetched exactly once"
    assert stored == articles
