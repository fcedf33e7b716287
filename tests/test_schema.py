"""The schema is Alembic's from its first table: new databases start at head, outdated ones
are refused with the command to run, and `newsmill db upgrade` brings them up without losing rows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, create_engine, inspect, text

from pipelines.storage import fulltext, jobqueue, schema
from pipelines.storage.database import Store
from pipelines.storage.models import Base
from pipelines.storage.records import ArticleRecord
from tests.databases import *  # noqa: F403  (the database fixtures)


def _revision_in_db(url: str) -> str | None:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def _record(n: int) -> ArticleRecord:
    return ArticleRecord(
        source="ledger",
        url=f"https://ledger.example/2024/03/01/story-{n}.html",
        text=f"Body of story {n}.",
        content_hash=f"{n:064x}",
        fetched_at=datetime(2024, 3, 1, 12, tzinfo=UTC),
        title=f"Story {n}",
    )


def test_head_constant_is_alembics_head() -> None:
    # prepare() trusts schema.HEAD to skip Alembic on an up-to-date database.
    assert ScriptDirectory.from_config(schema.alembic_config()).get_current_head() == schema.HEAD


def test_new_database_is_created_at_head(database_url: str) -> None:
    schema.prepare(database_url)
    assert _revision_in_db(database_url) == schema.head()
    engine = create_engine(database_url)
    try:
        assert {"articles", "article_urls", "crawl_runs"} <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_migrations_at_head_match_the_models(database_url: str) -> None:
    assert schema.upgrade(database_url) == (None, schema.HEAD)
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            opts = {"compare_type": True, "include_name": _not_the_search_index}
            context = MigrationContext.configure(connection, opts=opts)
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def _not_the_search_index(name: str | None, kind: str, _parents: object) -> bool:
    # The full-text index is not in the models; test_new_database_has_the_schema_the_migrations_build
    # compares it between the two paths that build a database. Nor is procrastinate's queue
    # (the cluster's, PostgreSQL only): its tables are procrastinate's.
    return not (kind == "table" and fulltext.is_index_table(name)) and not jobqueue.is_queue_object(name)


def _search_objects(connection: Connection) -> list[tuple[str, ...]]:
    """The full-text index's triggers, functions and virtual table, as the database defines them."""
    if connection.dialect.name == "sqlite":
        rows = connection.execute(
            text(
                "SELECT type, name, sql FROM sqlite_master "
                "WHERE type = 'trigger' OR name IN (:fts, 'ix_articles_dated', 'ix_articles_source_dated')"
            ),
            {"fts": fulltext.SQLITE_TABLE},
        )
    else:
        rows = connection.execute(
            text(
                "SELECT 'trigger', tgname, pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal "
                "UNION ALL SELECT 'function', proname, prosrc FROM pg_proc "
                "WHERE pronamespace = 'public'::regnamespace"
            )
        )
    return sorted(tuple(row) for row in rows)


def _schema_of(url: str) -> dict[str, Any]:
    """Every table's columns, keys, indexes and constraints, as the database reports them."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            inspector = inspect(connection)
            return {
                table: {
                    "columns": [
                        (c["name"], str(c["type"]), c["nullable"], str(c.get("default")))
                        for c in inspector.get_columns(table)
                    ],
                    "primary key": inspector.get_pk_constraint(table),
                    "foreign keys": sorted(map(repr, inspector.get_foreign_keys(table))),
                    "indexes": sorted(map(repr, inspector.get_indexes(table))),
                    "unique": sorted(map(repr, inspector.get_unique_constraints(table))),
                    "checks": sorted(map(repr, inspector.get_check_constraints(table))),
                }
                for table in sorted(inspector.get_table_names())
            } | {"search index": {"objects": _search_objects(connection)}}
    finally:
        engine.dispose()


def test_new_database_has_the_schema_the_migrations_build(database_url: str) -> None:
    # prepare() makes a new database from the models and stamps it, without running the
    # migrations: later migrations must find exactly what the migrations would have built.
    schema.upgrade(database_url)
    migrated = _schema_of(database_url)
    engine = create_engine(database_url)
    try:
        with engine.begin() as connection:
            fulltext.drop(connection)
            Base.metadata.drop_all(connection)
            connection.execute(text("DROP TABLE alembic_version"))
    finally:
        engine.dispose()
    schema.prepare(database_url)
    assert _revision_in_db(database_url) == schema.HEAD
    assert _schema_of(database_url) == migrated


def test_prepare_twice_is_a_no_op_and_keeps_rows(database_url: str) -> None:
    schema.prepare(database_url)
    store = Store(database_url)
    try:
        store.store_articles([_record(1)])
        schema.prepare(database_url)
        assert store.count_articles() == 1
    finally:
        store.close()


def test_database_made_before_migrations_is_refused_then_upgraded_keeping_rows(database_url: str) -> None:
    # Such a database has the tables of the models as they were then, the baseline's, and no
    # alembic_version; its rows are written as that newsmill wrote them.
    config = schema.alembic_config()
    engine = create_engine(database_url)
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, schema.BASELINE)
            connection.execute(text("DROP TABLE alembic_version"))
            connection.execute(
                text(
                    "INSERT INTO articles (source, url, authors, tags, text, content_hash, "
                    "first_seen_at, fetched_at) VALUES ('ledger', 'https://ledger.example/a', "
                    "'[]', '[]', 'kept', 'h1', '2024-03-01 12:00:00', '2024-03-01 12:00:00')"
                )
            )
    finally:
        engine.dispose()
    store = Store(database_url)
    try:
        with pytest.raises(schema.SchemaOutdated, match=r"run `newsmill db upgrade`"):
            schema.prepare(database_url)
        before, after = schema.upgrade(database_url)
        assert (before, after) == (None, schema.head())
        schema.prepare(database_url)
        assert store.count_articles() == 1
    finally:
        store.close()


def test_database_from_a_newer_newsmill_is_refused(database_url: str) -> None:
    schema.prepare(database_url)
    engine = create_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = 'f00dfeed'"))
    finally:
        engine.dispose()
    with pytest.raises(schema.SchemaOutdated, match=r"f00dfeed.*upgrade newsmill"):
        schema.prepare(database_url)


def _history() -> list[str]:
    """Every revision, oldest first."""
    script = ScriptDirectory.from_config(schema.alembic_config())
    return [r.revision for r in reversed(list(script.walk_revisions()))]


@pytest.mark.parametrize("start", _history()[:-1] or [None], ids=lambda r: f"from-{r}")
def test_outdated_database_is_refused_and_upgrade_keeps_rows(database_url: str, start: str | None) -> None:
    if start is None:
        pytest.skip("only the baseline revision exists: no database can be older than head yet")
    config = schema.alembic_config()
    engine = create_engine(database_url)
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, start)
            connection.execute(
                text(
                    "INSERT INTO articles (source, url, authors, tags, text, content_hash, "
                    "first_seen_at, fetched_at) VALUES ('ledger', 'https://ledger.example/a', "
                    "'[]', '[]', 'kept', 'h1', '2024-03-01 12:00:00', '2024-03-01 12:00:00')"
                )
            )
            connection.execute(
                text(
                    "INSERT INTO crawl_runs (source, trigger, started_at, finished_at, status, pages, "
                    "new, duplicates, skipped, errors) VALUES ('ledger', 'cli', '2024-03-01 12:00:00', "
                    "'2024-03-01 12:01:00', 'ok', 3, 1, 2, '{}', '{}')"
                )
            )
    finally:
        engine.dispose()
    with pytest.raises(schema.SchemaOutdated, match=rf"revision {start}.*run `newsmill db upgrade`"):
        schema.prepare(database_url)
    assert schema.upgrade(database_url) == (start, schema.head())
    store = Store(database_url)
    try:
        assert [a.text for a in store.iter_articles()] == ["kept"]
        assert [(r.new, r.duplicates, r.revised) for r in store.runs()] == [(1, 2, 0)]
    finally:
        store.close()
