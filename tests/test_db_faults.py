"""Database faults lose nothing and store nothing twice: concurrent crawls, a connection cut
in the middle of a crawl, an outage longer than the retry limit, and kill -9 (whose run record
the next crawl of the source closes)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy.engine import make_url

from pipelines.storage import schema, spool
from pipelines.storage.database import ABANDONED, Store
from tests.conftest import closed_port, python_output, run_newsmill, write_config
from tests.daemontools import runs
from tests.databases import *  # noqa: F403  (the database fixtures)
from tests.dbtools import (
    Crawl,
    article_requests,
    articles_site,  # noqa: F401  (fixture)
    assert_each_stored_once,
    config_for,
    count_articles,
    crawls,  # noqa: F401  (fixture)
    wait_for,
)
from tests.site.server import NewsSite
from tests.tcpproxy import TcpProxy


def _finished(crawl: Crawl) -> str:
    code = crawl.wait()
    assert code == 0, f"exit {code}\n{crawl.output[-4000:]}"
    return crawl.output


def test_two_crawls_at_once_store_each_article_once(
    database_url: str, articles_site: NewsSite, tmp_path: Path,  # noqa: F811
    crawls: Callable[..., Crawl],  # noqa: F811
) -> None:
    # Two sources over the same site: two processes race to store the very same articles.
    config = config_for(tmp_path, articles_site, database_url, crawl={"delay": 0.02},
                        sources=("ledger", "ledger-mirror"))
    first = crawls(config, "ledger", name="first")
    second = crawls(config, "ledger-mirror", name="second")
    _finished(first)
    _finished(second)
    assert_each_stored_once(database_url, articles_site)
    # Both really fetched every article: the race was real, not one crawl skipping the other.
    assert article_requests(articles_site) >= 2 * len(articles_site.articles) - 10


def test_kill_9_mid_crawl_then_rerun_stores_each_article_once_and_closes_the_killed_run(
    database_url: str, articles_site: NewsSite, tmp_path: Path,  # noqa: F811
    crawls: Callable[..., Crawl],  # noqa: F811
) -> None:
    config = config_for(tmp_path, articles_site, database_url)
    crawl = crawls(config, "--all", name="killed")
    total = len(articles_site.articles)
    wait_for(lambda: count_articles(database_url) >= 5 or not crawl.running(), "the first articles stored")
    crawl.kill()
    halfway = count_articles(database_url)
    assert 0 < halfway < total, f"the kill was not mid-crawl: {halfway} of {total} stored"
    assert [r["status"] for r in runs(config)] == ["running"], "the killed crawl could not close its run"
    rerun = run_newsmill("crawl", "--all", "-q", config=config)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert_each_stored_once(database_url, articles_site)
    # The rerun held the source's lock, so no crawl of it was running: the killed one's run
    # is closed, not left "running" for good.
    killed, rerun_run = runs(config)
    assert (killed["status"], killed["error"]) == ("interrupted", ABANDONED)
    assert killed["finished_at"] is not None
    assert rerun_run["status"] == "ok"


def test_a_scheduled_run_closes_a_run_a_killed_crawl_left_running(database_url: str, tmp_path: Path) -> None:
    # The daemon's crawl worker holds the source's lock, as `newsmill crawl` does: a run of
    # that source still marked running was left by a crawl that died. Nothing listens on the
    # feed's port: the scheduled run itself fails, quickly.
    feed = f"http://127.0.0.1:{closed_port()}/feed.xml"
    config = write_config(tmp_path, {"ledger": {"feeds": [feed]}}, database=database_url)
    schema.prepare(database_url)
    store = Store(database_url)
    try:
        left = store.start_run("ledger", "cli")
    finally:
        store.close()
    # A crawl worker as the daemon drives it: one job sent, its report read back.
    script = (
        "import queue\n"
        "from datetime import UTC, datetime\n"
        "from crawler.config import load_config\n"
        "from crawler.daemon.jobs import Init, Job\n"
        "from crawler.daemon.workers import WorkerProcess\n"
        f"config = load_config({str(config)!r})\n"
        "box = queue.Queue()\n"
        "worker = WorkerProcess.spawn(0, Init(config), on_message=lambda w, m: box.put(m),\n"
        "                             on_exit=lambda w, code: box.put(('exit', code)), on_line=print)\n"
        "worker.send('run', Job(1, 'ledger', 'schedule', datetime.now(UTC)))\n"
        "while (message := box.get(timeout=120))[0] != 'finished':\n"
        "    pass\n"
        "worker.stop()\n"
        "while box.get(timeout=60)[0] != 'exit':\n"
        "    pass\n"
        "print(message[2].status)\n"
    )
    output = python_output(script)
    assert output.split()[-1] == "failed"  # the scheduled run failed: nothing at the feed's port
    records = {r["id"]: r for r in runs(config)}
    assert (records[left]["status"], records[left]["error"]) == ("interrupted", ABANDONED)
    assert [r["trigger"] for i, r in records.items() if i != left] == ["schedule"]


def test_closing_abandoned_runs_spares_the_callers_own_run_and_other_sources(database_url: str) -> None:
    schema.prepare(database_url)
    store = Store(database_url)
    try:
        left = store.start_run("ledger", "cli")
        own = store.start_run("ledger", "schedule")  # the caller's, opened before it closes others
        other = store.start_run("gazette", "cli")
        assert store.close_abandoned_runs("ledger", keep=own) == [left]
        status = {r.id: r.status for r in store.runs(limit=10)}
    finally:
        store.close()
    assert status == {left: "interrupted", own: "running", other: "running"}


def _proxied(postgres_url: str, proxy: TcpProxy) -> str:
    return make_url(postgres_url).set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)


def _pg_target(postgres_url: str) -> tuple[str, int]:
    url = make_url(postgres_url)
    return url.host or "127.0.0.1", url.port or 5432


def test_connection_cut_mid_crawl_is_retried_and_every_article_stored_once(
    postgres_url: str, articles_site: NewsSite, tmp_path: Path,  # noqa: F811
    crawls: Callable[..., Crawl],  # noqa: F811
) -> None:
    with TcpProxy(*_pg_target(postgres_url)) as proxy:
        database = _proxied(postgres_url, proxy)
        config = config_for(tmp_path, articles_site, database, store={"retry_for": 120})
        crawl = crawls(config, "--all")
        wait_for(lambda: count_articles(postgres_url) >= 1, "the first articles stored")
        proxy.cut()
        wait_for(lambda: "database write failed" in crawl.output, "a write to fail on the cut connection")
        # The crawl goes on while the database is away.
        during = article_requests(articles_site)
        wait_for(lambda: article_requests(articles_site) >= during + 3, "downloads during the outage")
        assert crawl.running()
        assert count_articles(postgres_url) < len(articles_site.articles)
        proxy.restore()
        _finished(crawl)
    assert_each_stored_once(postgres_url, articles_site)
    assert spool.pending(tmp_path / "spool") == []


def test_outage_past_the_limit_spools_and_db_replay_stores_the_rest(
    postgres_url: str, articles_site: NewsSite, tmp_path: Path,  # noqa: F811
    crawls: Callable[..., Crawl],  # noqa: F811
) -> None:
    with TcpProxy(*_pg_target(postgres_url)) as proxy:
        database = _proxied(postgres_url, proxy)
        config = config_for(tmp_path, articles_site, database, store={"retry_for": 1})
        crawl = crawls(config, "--all")
        wait_for(lambda: count_articles(postgres_url) >= 1, "the first articles stored")
        proxy.cut()
        code = crawl.wait()
        output = crawl.output
        assert code == 1, output
        assert "newsmill db replay" in output
        stored = count_articles(postgres_url)
        assert stored < len(articles_site.articles)
        spooled = spool.pending(tmp_path / "spool")
        assert spooled, "nothing was spooled"
        proxy.restore()
        replay = run_newsmill("db", "replay", config=config)
        assert replay.returncode == 0, replay.stdout + replay.stderr
        assert "replayed" in replay.stdout
    assert_each_stored_once(postgres_url, articles_site)
    assert spool.pending(tmp_path / "spool") == []


def test_spool_left_by_an_outage_is_replayed_by_the_next_crawl(
    postgres_url: str, articles_site: NewsSite, tmp_path: Path,  # noqa: F811
    crawls: Callable[..., Crawl],  # noqa: F811
) -> None:
    with TcpProxy(*_pg_target(postgres_url)) as proxy:
        database = _proxied(postgres_url, proxy)
        config = config_for(tmp_path, articles_site, database, store={"retry_for": 1})
        crawl = crawls(config, "--all")
        wait_for(lambda: count_articles(postgres_url) >= 1, "the first articles stored")
        proxy.cut()
        assert crawl.wait() == 1, crawl.output
        assert spool.pending(tmp_path / "spool")
        proxy.restore()
        # Every article not stored by the first crawl is either spooled or fetched again;
        # the spooled ones are known to the next crawl only once it has replayed them.
        rerun = run_newsmill("crawl", "--all", "-q", config=config)
        assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert_each_stored_once(postgres_url, articles_site)
    assert spool.pending(tmp_path / "spool") == []


def test_buffer_full_during_outage_spills_to_disk_and_crawl_stores_it_when_back(
    postgres_url: str, articles_site: NewsSite, tmp_path: Path,  # noqa: F811
    crawls: Callable[..., Crawl],  # noqa: F811
) -> None:
    with TcpProxy(*_pg_target(postgres_url)) as proxy:
        database = _proxied(postgres_url, proxy)
        config = config_for(tmp_path, articles_site, database, store={"retry_for": 300, "buffer": 3})
        crawl = crawls(config, "--all")
        wait_for(lambda: count_articles(postgres_url) >= 1, "the first articles stored")
        proxy.cut()
        # Memory stays bounded: past 3 held articles, they go to the spool file at once.
        wait_for(lambda: bool(spool.pending(tmp_path / "spool")), "a spool file during the outage")
        assert crawl.running()
        proxy.restore()
        _finished(crawl)
    assert_each_stored_once(postgres_url, articles_site)
    assert spool.pending(tmp_path / "spool") == []
