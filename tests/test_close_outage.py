"""PostgreSQL going away as a crawl closes (issue 22), through a real TCP proxy: the run
record and the validators are kept like articles are. Retried while the outage lasts less
than `store.retry_for`; past it, spooled and written by `newsmill db replay` or the next
crawl. One line on the terminal, no traceback, the run record not left unfinished."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pipelines.storage import spool, validators
from pipelines.storage.database import Store
from tests.conftest import run_newsmill, write_config
from tests.databases import postgres_url  # noqa: F401  (fixture)
from tests.dbtools import ARTICLE_PATTERN, Crawl, count_articles, crawls, wait_for  # noqa: F401
from tests.site.server import NewsSite, link_page, synthetic_article
from tests.tcpproxy import TcpProxy
from tests.test_db_faults import _pg_target, _proxied

ARTICLES = 6
SLOW = "/latest-slow"  # a listing page that answers late: the crawl closes after the cut
CLOSING_LINE = "database unavailable as the crawl closes"


@pytest.fixture
def site() -> Iterator[NewsSite]:
    with NewsSite(fixtures=False) as running:
        for n in range(1, ARTICLES + 1):
            running.add_article(synthetic_article(n))
        running.add_page(SLOW, link_page([]), delay=20)
        yield running


def _config(tmp_path: Path, site: NewsSite, database: str, retry_for: float) -> Path:
    source = {"feeds": [site.url_for("/feed.xml")], "start_urls": [site.url_for(SLOW)],
              "articles": [ARTICLE_PATTERN]}
    return write_config(tmp_path, {"ledger": source}, database=database,
                        crawl={"concurrency": 2, "per_domain": 2, "delay": 0, "timeout": 60},
                        extra={"store": {"spool_dir": str(tmp_path / "spool"), "retry_for": retry_for}})


def _cut_as_it_closes(proxy: TcpProxy, crawl: Crawl, site: NewsSite, database: str) -> None:
    wait_for(lambda: count_articles(database) == ARTICLES and site.hits(SLOW) == 1,
             "every article stored while the slow page is still being answered")
    assert crawl.running()
    proxy.cut()


def _state(database: str, site: NewsSite) -> tuple[list[Any], dict[str, Any]]:
    store = Store(database)
    try:
        runs = store.runs(limit=10)
        kept = validators.for_urls(store, [site.url_for("/feed.xml"), site.url_for(SLOW)])
    finally:
        store.close()
    return runs, kept


def _outage_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if "database" in line]


def test_a_short_outage_as_the_crawl_closes_is_retried_run_record_and_validators_written(
    postgres_url: str, site: NewsSite, tmp_path: Path,  # noqa: F811
    crawls: Callable[..., Crawl],  # noqa: F811
) -> None:
    with TcpProxy(*_pg_target(postgres_url)) as proxy:
        config = _config(tmp_path, site, _proxied(postgres_url, proxy), retry_for=120)
        crawl = crawls(config, "--all")
        _cut_as_it_closes(proxy, crawl, site, postgres_url)
        wait_for(lambda: CLOSING_LINE in crawl.output, "the closing writes to fail", timeout=90)
        proxy.restore()
        assert crawl.wait() == 0, crawl.output
    output = crawl.output
    assert "Traceback" not in output, output
    assert len(_outage_lines(output)) == 1, output
    [run], kept = _state(postgres_url, site)
    assert (run.status, run.new) == ("ok", ARTICLES)
    assert run.finished_at is not None
    assert set(kept) == {site.url_for("/feed.xml"), site.url_for(SLOW)}
    assert spool.pending(tmp_path / "spool") == []


@pytest.mark.parametrize("written_by", ["db replay", "next crawl"])
def test_an_outage_past_retry_for_spools_run_record_and_validators_until_written(
    written_by: str, postgres_url: str, site: NewsSite, tmp_path: Path,  # noqa: F811
    crawls: Callable[..., Crawl],  # noqa: F811
) -> None:
    with TcpProxy(*_pg_target(postgres_url)) as proxy:
        config = _config(tmp_path, site, _proxied(postgres_url, proxy), retry_for=1)
        crawl = crawls(config, "--all")
        _cut_as_it_closes(proxy, crawl, site, postgres_url)
        assert crawl.wait() == 0, crawl.output  # every article is stored: the work is done
        output = crawl.output
        assert "Traceback" not in output, output
        assert "newsmill db replay" in output and len(_outage_lines(output)) == 2, output
        assert spool.pending(tmp_path / "spool")
        proxy.restore()
        [run], kept = _state(postgres_url, site)
        assert run.status == "running" and kept == {}
        if written_by == "db replay":
            result = run_newsmill("db", "replay", config=config)
        else:  # which also closes runs it finds still running, before or after its replay
            site.add_page(SLOW, link_page([]))
            result = run_newsmill("crawl", "--all", "-q", config=config)
        assert result.returncode == 0, result.stdout + result.stderr
    runs, kept = _state(postgres_url, site)
    first = min(runs, key=lambda r: r.id)
    assert (first.status, first.new, first.error) == ("ok", ARTICLES, None)
    assert set(kept) == {site.url_for("/feed.xml"), site.url_for(SLOW)}
    assert spool.pending(tmp_path / "spool") == []
