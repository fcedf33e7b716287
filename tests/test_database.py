"""The database through the CLI and from two writers at once: `newsmill db`, an outdated or
unreachable database, passwords kept out of every output, concurrent writer processes."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url

from crawler.cli import COMMANDS
from pipelines.storage import schema
from pipelines.storage.engine import make_engine
from tests.conftest import closed_port, describe, python_output, run_newsmill, write_config
from tests.databases import *  # noqa: F403  (the database fixtures)
from tests.dbtools import (
    Crawl,
    article_requests,
    articles_site,  # noqa: F401  (fixture)
    assert_each_stored_once,
    config_for,
    crawls,  # noqa: F401  (fixture)
    retold,
    save_validators_in_rounds,
    source,
    store_in_batches,
    store_stories_in_batches,
    synthetic_records,
    two_writers_at_once,
    wait_for,
)
from tests.site.server import NewsSite, synthetic_article
from tests.tcpproxy import TcpProxy

PASSWORD = "Pw-must-never-show-9f3"


def _downgrade(database: str, revision: str) -> None:
    config = schema.alembic_config()
    engine = create_engine(database)
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, revision)
    finally:
        engine.dispose()


def _previous_revision() -> str:
    script = ScriptDirectory.from_config(schema.alembic_config())
    previous = script.get_revision(schema.head()).down_revision
    assert isinstance(previous, str), "the tests need a revision before head"
    return previous


def test_db_current_and_upgrade_on_a_new_database(database_url: str, tmp_path: Path) -> None:
    sources = {"ledger": {"feeds": ["http://127.0.0.1:9/feed.xml"]}}
    config = write_config(tmp_path, sources, database=database_url)
    before = run_newsmill("db", "current", config=config)
    assert before.returncode == 0, describe(before)
    assert "revision none" in before.stdout
    upgrade = run_newsmill("db", "upgrade", config=config)
    assert upgrade.returncode == 0, describe(upgrade)
    assert f"to {schema.head()}" in upgrade.stdout
    after = run_newsmill("db", "current", config=config)
    assert after.returncode == 0, describe(after)
    assert f"revision {schema.head()} (up to date)" in after.stdout
    again = run_newsmill("db", "upgrade", config=config)
    assert f"already at revision {schema.head()}" in again.stdout


def test_crawl_refuses_an_outdated_database_until_db_upgrade(
    database_url: str, articles_site: NewsSite, tmp_path: Path  # noqa: F811
) -> None:
    config = config_for(tmp_path, articles_site, database_url, crawl={"delay": 0})
    schema.prepare(database_url)
    previous = _previous_revision()
    _downgrade(database_url, previous)
    current = run_newsmill("db", "current", config=config)
    assert current.returncode == 1, describe(current)
    assert "run `newsmill db upgrade`" in current.stdout
    refused = run_newsmill("crawl", "--all", "-q", config=config)
    assert refused.returncode == 1, describe(refused)
    assert f"revision {previous}" in refused.stderr
    assert "run `newsmill db upgrade`" in refused.stderr
    assert articles_site.requested_paths() == [], "an outdated database must stop the crawl before it fetches"
    upgrade = run_newsmill("db", "upgrade", config=config)
    assert upgrade.returncode == 0, describe(upgrade)
    crawl = run_newsmill("crawl", "--all", "-q", config=config)
    assert crawl.returncode == 0, describe(crawl)
    assert_each_stored_once(database_url, articles_site)


def test_unreachable_database_at_start_names_host_and_database_masks_password_exit_1(
    articles_site: NewsSite, tmp_path: Path  # noqa: F811
) -> None:
    port = closed_port()
    database = f"postgresql+psycopg://newsmill:{PASSWORD}@127.0.0.1:{port}/newsroom"
    config = config_for(tmp_path, articles_site, database)
    for args in (("crawl", "--all"), ("db", "current"), ("db", "upgrade"), ("db", "replay")):
        result = run_newsmill(*args, config=config)
        assert result.returncode == 1, describe(result)
        assert f"127.0.0.1:{port}" in result.stderr
        assert "'newsroom'" in result.stderr
        assert PASSWORD not in result.stdout + result.stderr
        assert "Traceback" not in result.stderr
    assert articles_site.requested_paths() == []


def test_unreachable_sqlite_file_is_named_exit_1(articles_site: NewsSite, tmp_path: Path) -> None:  # noqa: F811
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the database's directory should be")
    config = config_for(tmp_path, articles_site, f"sqlite:///{blocker / 'news.db'}")
    result = run_newsmill("crawl", "--all", config=config)
    assert result.returncode == 1, describe(result)
    assert str(blocker / "news.db") in result.stderr
    assert "Traceback" not in result.stderr


def _listings() -> list[tuple[str, ...]]:
    """The commands that show the config or the runs (`sources`, `runs`), where they exist."""
    names = {command.__name__.rsplit(".", 1)[-1] for command in COMMANDS}
    return [(name,) for name in ("sources", "runs") if name in names]


def test_password_never_appears_in_logs_errors_or_output(
    postgres_url: str, articles_site: NewsSite, tmp_path: Path, crawls: Callable[..., Crawl]  # noqa: F811
) -> None:
    # Trust authentication ignores the password, so it travels everywhere a real one would.
    with TcpProxy("127.0.0.1", make_url(postgres_url).port or 5432) as proxy:
        url = make_url(postgres_url).set(password=PASSWORD, port=proxy.port)
        database = url.render_as_string(hide_password=False)
        config = config_for(tmp_path, articles_site, database, crawl={"delay": 0.05}, store={"retry_for": 1})
        outputs = []
        crawl = crawls(config, "--all", "-v")  # Scrapy's own log at INFO, settings and all
        crawl.wait()
        outputs.append(crawl.output)
        for args in (*_listings(), ("db", "current"), ("db", "upgrade"), ("db", "replay")):
            result = run_newsmill(*args, config=config)
            assert result.returncode == 0, describe(result)
            outputs.append(result.stdout + result.stderr)
        # Errors too: a crawl that loses its database half way, and one that cannot reach it.
        for n in range(61, 81):
            articles_site.add_article(synthetic_article(n))
        seen = article_requests(articles_site)
        cut = crawls(config, "--all", "-v", name="cut")
        wait_for(lambda: article_requests(articles_site) > seen, "the second crawl's first article")
        proxy.cut()
        cut.wait()
        outputs.append(cut.output)
        for args in (("crawl", "--all", "-v"), *_listings(), ("db", "current")):
            outputs.append((lambda r: r.stdout + r.stderr)(run_newsmill(*args, config=config)))
    for output in outputs:
        assert PASSWORD not in output
    assert any("***" in output for output in outputs), "no output named the database at all"


def test_two_writer_processes_storing_the_same_articles_at_once_store_each_once(database_url: str) -> None:
    schema.prepare(database_url)
    count = 800
    new = two_writers_at_once(store_in_batches, database_url, count, 20)
    # Neither writer failed, and between them each article was new exactly once.
    assert sum(new) == count
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            articles = connection.execute(text("SELECT url, content_hash FROM articles")).all()
            urls = connection.execute(text("SELECT url, article_id FROM article_urls")).all()
    finally:
        engine.dispose()
    records = synthetic_records(count)
    assert sorted(url for url, _ in articles) == sorted(r.url for r in records)
    assert len({h for _, h in articles}) == count
    assert sorted(url for url, _ in urls) == sorted(u for r in records for u in (r.url, *r.aliases))


def test_a_story_and_its_retelling_stored_by_two_writers_at_once_are_one_article(database_url: str) -> None:
    # A wire story on two sites, crawled at the same time: each writer's near-duplicate check
    # must see what the other has stored, or both tellings become articles.
    schema.prepare(database_url)
    count = 300
    new = two_writers_at_once(store_stories_in_batches, database_url, count, 10)
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            articles = connection.execute(text("SELECT count(*) FROM articles")).scalar_one()
            rows = connection.execute(text("SELECT url, article_id FROM article_urls")).all()
            urls: dict[str, int] = dict(rows)
    finally:
        engine.dispose()
    assert articles == count, f"{articles - count} of {count} stories stored twice"
    assert sum(new) == count
    records = synthetic_records(count)
    for record in records:
        assert urls[retold(record).url] == urls[record.url]


def test_two_writer_processes_keeping_the_same_validators_at_once_both_succeed(database_url: str) -> None:
    schema.prepare(database_url)
    count, rounds = 2000, 5
    # Re-raises a writer's error: a deadlock, on PostgreSQL.
    two_writers_at_once(save_validators_in_rounds, database_url, count, rounds)
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            kept = connection.execute(text("SELECT etag, count(*) FROM http_validators GROUP BY etag")).all()
    finally:
        engine.dispose()
    assert kept == [(f'"{rounds - 1}"', count)]


def test_two_crawls_of_one_new_database_create_its_schema_once(
    database_url: str, articles_site: NewsSite, tmp_path: Path, crawls: Callable[..., Crawl]  # noqa: F811
) -> None:
    config = write_config(
        tmp_path,
        {"ledger": source(articles_site), "ledger-copy": source(articles_site)},
        database=database_url,
        crawl={"delay": 0, "concurrency": 4, "per_domain": 4},
        extra={"store": {"spool_dir": str(tmp_path / "spool")}},
    )
    first, second = crawls(config, "ledger", name="a"), crawls(config, "ledger-copy", name="b")
    assert first.wait() == 0, first.output
    assert second.wait() == 0, second.output
    assert schema.current(database_url) == schema.head()
    assert_each_stored_once(database_url, articles_site)


def test_sqlite_connection_opened_while_another_creates_the_file_waits_for_it(tmp_path: Path) -> None:
    # A writer holding a new file's lock makes SQLite refuse the switch to WAL at once, without
    # its busy timeout: the connection must wait for the writer, not fail.
    path = tmp_path / "new.db"
    creator = sqlite3.connect(path, isolation_level=None)
    creator.execute("BEGIN IMMEDIATE")
    creator.execute("CREATE TABLE made_first (id INTEGER)")
    engine = make_engine(f"sqlite:///{path}")
    asked: list[str] = []
    refused_once_or_done = threading.Event()

    @event.listens_for(engine, "connect", insert=True)
    def _watch(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        def traced(sql: str) -> None:
            if "journal_mode" in sql:
                asked.append(sql)
                if len(asked) == 2:  # the first request was refused and is being repeated
                    refused_once_or_done.set()

        dbapi_connection.set_trace_callback(traced)

    outcome: list[object] = []

    def connect() -> None:
        try:
            with engine.connect() as connection:
                outcome.append(connection.exec_driver_sql("PRAGMA journal_mode").scalar())
        except Exception as exc:
            outcome.append(exc)
        finally:
            refused_once_or_done.set()

    opener = threading.Thread(target=connect)
    opener.start()
    try:
        assert refused_once_or_done.wait(timeout=60)
        creator.execute("COMMIT")
        opener.join(timeout=60)
    finally:
        creator.close()
        engine.dispose()
    assert outcome == ["wal"]


def test_a_sqlite_store_does_not_load_the_postgresql_dialect(tmp_path: Path) -> None:
    # 0.06 s of every SQLite crawl's start-up, for a database it does not use.
    url = f"sqlite:///{tmp_path / 'n.db'}"
    script = (
        "import sys\n"
        "from pipelines.storage.database import Store\n"
        f"store = Store({url!r})\n"
        "print(store.insert().__module__, 'sqlalchemy.dialects.postgresql' in sys.modules)\n"
        "store.close()\n"
    )
    output = python_output(script)
    assert output.split() == ["sqlalchemy.dialects.sqlite.dml", "False"]
