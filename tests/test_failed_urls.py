"""Broken article links are fetched once, then left alone for a while that grows."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from sqlalchemy import update

from pipelines.storage.database import Store
from pipelines.storage.failures import PERMANENT, TRANSIENT, retry_delay
from pipelines.storage.models import FailedUrl, utcnow
from tests.conftest import BROKEN_PATHS, describe, export_records, ledger_source, run_newsmill, write_config
from tests.site.server import NewsSite, synthetic_article

# Article-shaped links that never give an article; each must be fetched once, not every run.
NEVER_ARTICLES = ("empty", "binary", "not_found", "redirect_loop", "oversized")


def test_broken_article_pages_are_not_fetched_again_on_the_next_run(site: NewsSite, tmp_path: Path) -> None:
    config = write_config(tmp_path, {"ledger": ledger_source(site)})
    first = run_newsmill("crawl", "ledger", "-q", config=config)
    assert first.returncode == 0, describe(first)
    fetched_once = {name: site.hits(BROKEN_PATHS[name]) for name in NEVER_ARTICLES}
    assert all(n >= 1 for n in fetched_once.values()), fetched_once

    second = run_newsmill("crawl", "ledger", "-q", config=config)
    assert second.returncode == 0, describe(second)
    assert {name: site.hits(BROKEN_PATHS[name]) for name in NEVER_ARTICLES} == fetched_once
    assert "failed before, tried again later" in second.stdout


def test_a_failed_page_is_tried_again_once_its_wait_is_over_and_stored_if_mended(
    site: NewsSite, tmp_path: Path
) -> None:
    config = write_config(tmp_path, {"ledger": ledger_source(site)})
    assert run_newsmill("crawl", "ledger", "-q", config=config).returncode == 0
    path = BROKEN_PATHS["server_error"]
    hits = site.hits(path)
    # The page is mended: it now serves an article of its own.
    site.add_page(path, site.render_article(replace(synthetic_article(77), path=path)))

    store = Store(f"sqlite:///{tmp_path / 'news.db'}")
    try:
        with store.sessions.begin() as session:  # the wait, over: as if its time had passed
            session.execute(update(FailedUrl).values(retry_after=utcnow() - timedelta(seconds=1)))
    finally:
        store.close()
    again = run_newsmill("crawl", "ledger", "-q", config=config)
    assert again.returncode == 0, describe(again)
    assert site.hits(path) == hits + 1
    assert [r for r in export_records(config) if r["url"].endswith(path)], "the mended page is stored"


def test_waits_double_with_each_failure_up_to_a_cap() -> None:
    assert retry_delay("HTTP 503", 1) == TRANSIENT[0]
    assert retry_delay("timeout", 2) == 2 * TRANSIENT[0]
    assert retry_delay("HTTP 500", 40) == TRANSIENT[1]
    assert retry_delay("HTTP 404", 1) == PERMANENT[0]
    assert retry_delay("not an article", 3) == 4 * PERMANENT[0]
    assert retry_delay("empty body", 99) == PERMANENT[1]
