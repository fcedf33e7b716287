"""`newsmill backfill`: a source's dated sitemap archive, crawled in parts that survive a stop.

Real crawls of the fixture site's archive (/archive/sitemap_index.xml: one child sitemap per
month, each with the lastmod of its newest article), into SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from tests.conftest import (
    ARTICLE_PATTERNS,
    ROOT,
    cli_env,
    describe,
    export_records,
    run_newsmill,
    write_config,
)
from tests.databases import *  # noqa: F403  (the database fixtures)
from tests.site.server import NewsSite, synthetic_article

MONTHS = 5  # January to May 2024


def archive_site(per_month: int = 6) -> NewsSite:
    site = NewsSite(fixtures=False)
    for n in range(MONTHS * per_month):
        month, day = divmod(n, per_month)
        published = datetime(2024, month + 1, 2 + day * 3, 9, tzinfo=UTC)
        site.add_article(synthetic_article(n + 1, published=published))
    return site


def archive_config(directory: Path, site: NewsSite, database: str, **crawl: object) -> Path:
    source = {"sitemaps": [site.url_for("/archive/sitemap_index.xml")], "articles": ARTICLE_PATTERNS}
    return write_config(directory, {"ledger": source}, database=database, crawl=crawl or None)


def month_of(path: str) -> str:
    return path[1:8].replace("/", "-")  # "/2024/03/10/..." -> "2024-03"


def status(config: Path) -> dict[str, object]:
    result = run_newsmill("backfill", "ledger", "--status", "--json", config=config)
    assert result.returncode == 0, describe(result)
    return dict(json.loads(result.stdout))


def test_backfill_fetches_only_what_its_dates_can_hold(tmp_path: Path, database_url: str) -> None:
    with archive_site() as site:
        config = archive_config(tmp_path, site, database_url)
        # --local: on PostgreSQL too, crawled here rather than by a cluster's workers.
        result = run_newsmill("backfill", "ledger", "--since", "2024-03-01", "--until", "2024-03-31",
                              "--local", config=config)
        requested = site.requested_paths()
        march = {a.path for a in site.main_articles() if a.published.month == 3}
        stored = {r["url"].removeprefix(site.url) for r in export_records(config)}
    assert result.returncode == 0, describe(result)
    # January's and February's sitemaps last changed before March: never fetched. April's and
    # May's may list older articles (a lastmod tells the newest only): read, nothing fetched.
    sitemaps = sorted({p for p in requested if p.startswith("/archive/sitemap-")})
    assert sitemaps == ["/archive/sitemap-2024-03.xml", "/archive/sitemap-2024-04.xml",
                        "/archive/sitemap-2024-05.xml"]
    fetched = [p for p in requested if p.endswith(".html")]
    assert sorted(fetched) == sorted(march), "March's articles, each once, and no other"
    assert stored == march
    assert "3 sitemap(s) to crawl (3 new), 2 ruled out by their date" in result.stderr
    backfills = status(config)["backfills"]
    assert backfills == [{"source": "ledger", "window": "2024-03-01..2024-03-31",
                          "parts": {"done": 3, "running": 0, "pending": 0, "failed": 0},
                          "pages": len(march), "new": len(march), "duplicates": 0, "errors": 0}]
    assert f"{len(march)} article(s) stored in all" in result.stdout


def test_running_it_again_crawls_only_the_new_parts(tmp_path: Path, sqlite_url: str) -> None:
    with archive_site() as site:
        config = archive_config(tmp_path, site, sqlite_url)
        first = run_newsmill("backfill", "ledger", config=config)
        assert first.returncode == 0, describe(first)
        site.clear_log()
        # A new month appears in the archive; the months crawled are not read again.
        june = synthetic_article(999, published=datetime(2024, 6, 3, tzinfo=UTC))
        site.add_article(june)
        second = run_newsmill("backfill", "ledger", config=config)
        requested = site.requested_paths()
    assert second.returncode == 0, describe(second)
    assert f"{MONTHS} part(s) done before: skipped" in second.stderr
    assert sorted(p for p in requested if p.startswith("/archive/")) == [
        "/archive/sitemap-2024-06.xml", "/archive/sitemap_index.xml"]
    assert [p for p in requested if p.endswith(".html")] == [june.path]
    assert len(export_records(config)) == MONTHS * 6 + 1


def test_ctrl_c_leaves_it_resumable(tmp_path: Path, sqlite_url: str) -> None:
    with archive_site(per_month=8) as site:
        # One request at a time, a tenth of a second apart: slow enough to stop midway.
        config = archive_config(tmp_path, site, sqlite_url, delay=0.1, per_domain=1, concurrency=1)
        backfill = subprocess.Popen(
            [sys.executable, "-m", "crawler.cli", "--config", str(config), "backfill", "ledger", "-q"],
            cwd=ROOT, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        deadline = time.monotonic() + 60
        while not [p for p in site.requested_paths() if p.endswith(".html")]:
            assert time.monotonic() < deadline, "no article was fetched within a minute"
            assert backfill.poll() is None, backfill.communicate()
            time.sleep(0.05)
        backfill.send_signal(signal.SIGINT)
        out, err = backfill.communicate(timeout=60)
        assert backfill.returncode == 130, f"{out}\n{err}"
        assert "run the same command again to resume" in err
        parts = status(config)["backfills"][0]["parts"]  # type: ignore[index]
        assert parts["done"] < MONTHS and parts["running"] == 0, parts
        stored_before = {r["url"].removeprefix(site.url) for r in export_records(config)}
        site_log_before = len(site.requests)

        again = run_newsmill("backfill", "ledger", "-q", config=config)
        refetched = [r.path for r in site.requests[site_log_before:] if r.path in stored_before]
        everything = {a.path for a in site.main_articles()}
        stored = sorted(r["url"].removeprefix(site.url) for r in export_records(config))
    assert again.returncode == 0, describe(again)
    assert refetched == [], "articles stored before the stop are not fetched again"
    assert stored == sorted(everything)


def test_a_source_without_sitemaps_is_refused(tmp_path: Path) -> None:
    config = write_config(tmp_path, {"feedonly": {"feeds": ["http://127.0.0.1:9/feed.xml"]}})
    result = run_newsmill("backfill", "feedonly", config=config)
    assert result.returncode == 2
    assert "has no sitemaps to backfill" in result.stderr
    bad = run_newsmill("backfill", "feedonly", "--since", "March", config=config)
    assert bad.returncode == 2 and "'March' is not a date" in bad.stderr


def test_dates_inside_out_are_refused(tmp_path: Path) -> None:
    config = write_config(tmp_path, {"s": {"sitemaps": ["http://127.0.0.1:9/sitemap.xml"]}})
    result = run_newsmill("backfill", "s", "--since", "2024-05-01", "--until", "2024-04-01", config=config)
    assert result.returncode == 2 and "is after --until" in result.stderr

