"""search: the full-text index (FTS5 on SQLite, tsvector + GIN on PostgreSQL), its triggers,
and an index on each article's date; the articles already stored are indexed

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02

Frozen like the baseline: the statements are spelled out here, not imported from
pipelines.storage.fulltext (which makes the same objects for a new database; tests/test_schema.py
checks that both build the same).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE = [
    """CREATE VIRTUAL TABLE articles_fts USING fts5(
    title, description, text,
    content='articles', content_rowid='id', tokenize='unicode61 remove_diacritics 2'
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

_DOCUMENT = """setweight(to_tsvector('simple', coalesce({row}.title, '')), 'A')
        || setweight(to_tsvector('simple', coalesce({row}.description, '')), 'B')
        || setweight(to_tsvector('simple', left({row}.text, 300000)), 'C')"""
POSTGRES = [
    """CREATE TABLE article_search (
    article_id integer NOT NULL,
    document tsvector NOT NULL,
    CONSTRAINT pk_article_search PRIMARY KEY (article_id),
    CONSTRAINT fk_article_search_article_id_articles FOREIGN KEY (article_id)
        REFERENCES articles (id) ON DELETE CASCADE
)""",
    "CREATE INDEX ix_article_search_document ON article_search USING gin (document)",
    f"""CREATE FUNCTION newsmill_index_article() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO article_search (article_id, document)
    VALUES (NEW.id, {_DOCUMENT.format(row="NEW")})
    ON CONFLICT (article_id) DO UPDATE SET document = EXCLUDED.document;
    RETURN NULL;
END
$$""",
    """CREATE TRIGGER articles_search AFTER INSERT OR UPDATE OF title, description, text
    ON articles FOR EACH ROW EXECUTE FUNCTION newsmill_index_article()""",
    f"""INSERT INTO article_search (article_id, document)
SELECT articles.id, {_DOCUMENT.format(row="articles")} FROM articles
ON CONFLICT (article_id) DO NOTHING""",
]


def upgrade() -> None:
    op.create_index(
        "ix_articles_dated", "articles", [sa.text("coalesce(published_at, first_seen_at)"), "id"]
    )
    statements = SQLITE if op.get_context().dialect.name == "sqlite" else POSTGRES
    for statement in statements:
        # As the driver's SQL: text() would take the colons of `:` in a body for parameters.
        op.get_bind().exec_driver_sql(statement)


def downgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        for name in ("articles_fts_insert", "articles_fts_delete", "articles_fts_update"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS articles_fts")
    else:
        op.execute("DROP TRIGGER IF EXISTS articles_search ON articles")
        op.execute("DROP FUNCTION IF EXISTS newsmill_index_article()")
        op.execute("DROP TABLE IF EXISTS article_search")
    op.drop_index("ix_articles_dated", table_name="articles")
