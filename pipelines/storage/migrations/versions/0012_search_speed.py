"""search at 100,000 articles: SQLite's FTS5 table rebuilt with prefix indexes; PostgreSQL's
article_search repeats source, language and date for filtering; articles indexed by (source, date)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03

Frozen like the baseline: the statements are spelled out here, not imported from
pipelines.storage.fulltext (which makes the same objects for a new database; tests/test_schema.py
checks that both build the same). FTS5 cannot add a prefix index to a table, so the table is
made anew and filled from `articles` (some 40 s of CPU at 100,000 articles); the triggers go
and come back with it, in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _sqlite_index(prefix: str) -> list[str]:
    return [
        "DROP TRIGGER IF EXISTS articles_fts_insert",
        "DROP TRIGGER IF EXISTS articles_fts_delete",
        "DROP TRIGGER IF EXISTS articles_fts_update",
        "DROP TABLE IF EXISTS articles_fts",
        f"""CREATE VIRTUAL TABLE articles_fts USING fts5(
    title, description, text,
    content='articles', content_rowid='id', tokenize='unicode61 remove_diacritics 2'{prefix}
)""",
        "INSERT INTO articles_fts(articles_fts, rank) VALUES ('rank', 'bm25(10.0, 4.0, 1.0)')",
        """CREATE TRIGGER articles_fts_insert AFTER INSERT ON articles BEGIN
    INSERT INTO articles_fts(rowid, title, description, text)
    VALUES (new.id, new.title, new.description, new.text);
END""",
        """CREATE TRIGGER articles_fts_delete AFTER DELETE ON articles BEGIN
    INSERT INTO articles_fts(articles_fts, rowid, title, description, text)
    VALUES ('delete', old.id, old.title, old.description, old.text);
END""",
        """CREATE TRIGGER articles_fts_update AFTER UPDATE OF title, description, text ON articles BEGIN
    INSERT INTO articles_fts(articles_fts, rowid, title, description, text)
    VALUES ('delete', old.id, old.title, old.description, old.text);
    INSERT INTO articles_fts(rowid, title, description, text)
    VALUES (new.id, new.title, new.description, new.text);
END""",
        "INSERT INTO articles_fts(articles_fts) VALUES ('rebuild')",
    ]


_DOCUMENT = """setweight(to_tsvector('simple', coalesce(NEW.title, '')), 'A')
        || setweight(to_tsvector('simple', coalesce(NEW.description, '')), 'B')
        || setweight(to_tsvector('simple', left(NEW.text, 300000)), 'C')"""
POSTGRES = [
    "ALTER TABLE article_search ADD COLUMN source varchar(200), ADD COLUMN language varchar(20), "
    "ADD COLUMN dated timestamp with time zone",
    """UPDATE article_search SET source = a.source, language = a.language,
    dated = coalesce(a.published_at, a.first_seen_at)
FROM articles a WHERE a.id = article_search.article_id""",
    "ALTER TABLE article_search ALTER COLUMN source SET NOT NULL, ALTER COLUMN dated SET NOT NULL",
    "CREATE INDEX ix_article_search_source ON article_search (source)",
    "CREATE INDEX ix_article_search_dated ON article_search (dated)",
    f"""CREATE OR REPLACE FUNCTION newsmill_index_article() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.title IS NOT DISTINCT FROM OLD.title
            AND NEW.description IS NOT DISTINCT FROM OLD.description AND NEW.text = OLD.text THEN
        UPDATE article_search SET source = NEW.source, language = NEW.language,
            dated = coalesce(NEW.published_at, NEW.first_seen_at)
        WHERE article_id = NEW.id;
        RETURN NULL;
    END IF;
    INSERT INTO article_search (article_id, document, source, language, dated)
    VALUES (NEW.id, {_DOCUMENT}, NEW.source, NEW.language,
        coalesce(NEW.published_at, NEW.first_seen_at))
    ON CONFLICT (article_id) DO UPDATE SET document = EXCLUDED.document, source = EXCLUDED.source,
        language = EXCLUDED.language, dated = EXCLUDED.dated;
    RETURN NULL;
END
$$""",
    "DROP TRIGGER articles_search ON articles",
    """CREATE TRIGGER articles_search
    AFTER INSERT OR UPDATE OF title, description, text, source, language, published_at, first_seen_at
    ON articles FOR EACH ROW EXECUTE FUNCTION newsmill_index_article()""",
]
POSTGRES_DOWN = [
    f"""CREATE OR REPLACE FUNCTION newsmill_index_article() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO article_search (article_id, document)
    VALUES (NEW.id, {_DOCUMENT})
    ON CONFLICT (article_id) DO UPDATE SET document = EXCLUDED.document;
    RETURN NULL;
END
$$""",
    "DROP TRIGGER articles_search ON articles",
    """CREATE TRIGGER articles_search AFTER INSERT OR UPDATE OF title, description, text
    ON articles FOR EACH ROW EXECUTE FUNCTION newsmill_index_article()""",
    "DROP INDEX ix_article_search_dated",
    "DROP INDEX ix_article_search_source",
    "ALTER TABLE article_search DROP COLUMN source, DROP COLUMN language, DROP COLUMN dated",
]


def upgrade() -> None:
    # Latest articles of one source: a range of this index, not the source's rows sorted by date.
    op.create_index(
        "ix_articles_source_dated",
        "articles",
        ["source", sa.text("coalesce(published_at, first_seen_at)"), "id"],
    )
    sqlite = op.get_context().dialect.name == "sqlite"
    for statement in _sqlite_index(", prefix='2 3 4'") if sqlite else POSTGRES:
        # As the driver's SQL: text() would take the colons of `:` in a body for parameters.
        op.get_bind().exec_driver_sql(statement)


def downgrade() -> None:
    sqlite = op.get_context().dialect.name == "sqlite"
    for statement in _sqlite_index("") if sqlite else POSTGRES_DOWN:
        op.get_bind().exec_driver_sql(statement)
    op.drop_index("ix_articles_source_dated", table_name="articles")
