"""The full-text index's schema: an FTS5 table on SQLite, a tsvector table with a GIN index on
PostgreSQL, each kept in step with `articles` by triggers in the database.

Triggers, not the store's code, keep the index: every write of an article (a new one, a
revision replacing its text, an article withdrawn inside its batch, a row fixed by hand in
SQL) updates it in the same transaction, and the write path stays as it is. The index holds
each article's latest revision (title, description, text), as `articles` does.

The objects are not in the SQLAlchemy models (neither database's kind fits the other): new
databases get them from install(), migrated ones from revisions 0007 and 0012, which spell the
same statements out, frozen; tests/test_schema.py checks both paths build the same objects.
A later migration that rebuilds `articles` on SQLite (Alembic's batch mode copies the table
and drops the old one, and its triggers with it) must call install() again afterwards.
"""

from __future__ import annotations

from sqlalchemy import Connection

# What the FTS5 table and its shadow tables, or PostgreSQL's table, are called: Alembic's
# comparisons of the models with the database leave them out (include_name).
SQLITE_TABLE = "articles_fts"
POSTGRES_TABLE = "article_search"
# PostgreSQL's text search configuration: no stemming and no stop words, like FTS5's
# unicode61, so a query finds the same articles on both databases whatever their language.
POSTGRES_CONFIG = "simple"
# Characters of an article's text that PostgreSQL indexes: a tsvector holds at most 1 MB and
# positions stop at 16,383, so a longer text would fail its INSERT; this is some 50,000 words.
POSTGRES_TEXT_LIMIT = 300_000

SQLITE = [
    # External content: the index keeps its own tokens only, the text stays in `articles`.
    # Prefix indexes for words' first 2, 3 and 4 letters: without them `co*` merges the lists
    # of every word starting so (2.5 s of CPU at 100,000 articles, `stat*` 0.14 s), with them
    # it reads one list (5 ms). Longer prefixes begin few enough words to be cheap without
    # (about 20 ms); one letter is refused (searchquery). The price: the index is 3 times the
    # size (bench/SEARCH.md).
    f"""CREATE VIRTUAL TABLE {SQLITE_TABLE} USING fts5(
    title, description, text,
    content='articles', content_rowid='id', tokenize='unicode61 remove_diacritics 2', prefix='2 3 4'
)""",
    # bm25 with the title worth most: FTS5's `rank` column, kept in the table's config.
    f"INSERT INTO {SQLITE_TABLE}({SQLITE_TABLE}, rank) VALUES ('rank', 'bm25(10.0, 4.0, 1.0)')",
    f"""CREATE TRIGGER articles_fts_insert AFTER INSERT ON articles BEGIN
    INSERT INTO {SQLITE_TABLE}(rowid, title, description, text)
    VALUES (new.id, new.title, new.description, new.text);
END""",
    f"""CREATE TRIGGER articles_fts_delete AFTER DELETE ON articles BEGIN
    INSERT INTO {SQLITE_TABLE}({SQLITE_TABLE}, rowid, title, description, text)
    VALUES ('delete', old.id, old.title, old.description, old.text);
END""",
    f"""CREATE TRIGGER articles_fts_update AFTER UPDATE OF title, description, text ON articles BEGIN
    INSERT INTO {SQLITE_TABLE}({SQLITE_TABLE}, rowid, title, description, text)
    VALUES ('delete', old.id, old.title, old.description, old.text);
    INSERT INTO {SQLITE_TABLE}(rowid, title, description, text)
    VALUES (new.id, new.title, new.description, new.text);
END""",
]
SQLITE_BACKFILL = f"INSERT INTO {SQLITE_TABLE}({SQLITE_TABLE}) VALUES ('rebuild')"
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS articles_fts_insert",
    "DROP TRIGGER IF EXISTS articles_fts_delete",
    "DROP TRIGGER IF EXISTS articles_fts_update",
    f"DROP TABLE IF EXISTS {SQLITE_TABLE}",
]

_DOCUMENT = f"""setweight(to_tsvector('{POSTGRES_CONFIG}', coalesce({{row}}.title, '')), 'A')
        || setweight(to_tsvector('{POSTGRES_CONFIG}', coalesce({{row}}.description, '')), 'B')
        || setweight(to_tsvector('{POSTGRES_CONFIG}', left({{row}}.text, {POSTGRES_TEXT_LIMIT})), 'C')"""
POSTGRES = [
    # A table beside `articles` rather than a column of it: the rows the crawl's queries read
    # stay as narrow as before, and the index's writes touch no article row. It repeats what
    # search filters by (source, language, the date search goes by), so that a filter is
    # applied to the matches here, by an index beside the GIN one, instead of reading an
    # `articles` row for each match of a common word.
    f"""CREATE TABLE {POSTGRES_TABLE} (
    article_id integer NOT NULL,
    document tsvector NOT NULL,
    source varchar(200) NOT NULL,
    language varchar(20),
    dated timestamp with time zone NOT NULL,
    CONSTRAINT pk_{POSTGRES_TABLE} PRIMARY KEY (article_id),
    CONSTRAINT fk_{POSTGRES_TABLE}_article_id_articles FOREIGN KEY (article_id)
        REFERENCES articles (id) ON DELETE CASCADE
)""",
    f"CREATE INDEX ix_{POSTGRES_TABLE}_document ON {POSTGRES_TABLE} USING gin (document)",
    f"CREATE INDEX ix_{POSTGRES_TABLE}_source ON {POSTGRES_TABLE} (source)",
    f"CREATE INDEX ix_{POSTGRES_TABLE}_dated ON {POSTGRES_TABLE} (dated)",
    # A change of the text re-indexes it; a change of what filters only copies that over.
    f"""CREATE FUNCTION newsmill_index_article() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.title IS NOT DISTINCT FROM OLD.title
            AND NEW.description IS NOT DISTINCT FROM OLD.description AND NEW.text = OLD.text THEN
        UPDATE {POSTGRES_TABLE} SET source = NEW.source, language = NEW.language,
            dated = coalesce(NEW.published_at, NEW.first_seen_at)
        WHERE article_id = NEW.id;
        RETURN NULL;
    END IF;
    INSERT INTO {POSTGRES_TABLE} (article_id, document, source, language, dated)
    VALUES (NEW.id, {_DOCUMENT.format(row="NEW")}, NEW.source, NEW.language,
        coalesce(NEW.published_at, NEW.first_seen_at))
    ON CONFLICT (article_id) DO UPDATE SET document = EXCLUDED.document, source = EXCLUDED.source,
        language = EXCLUDED.language, dated = EXCLUDED.dated;
    RETURN NULL;
END
$$""",
    """CREATE TRIGGER articles_search
    AFTER INSERT OR UPDATE OF title, description, text, source, language, published_at, first_seen_at
    ON articles FOR EACH ROW EXECUTE FUNCTION newsmill_index_article()""",
]
POSTGRES_BACKFILL = f"""INSERT INTO {POSTGRES_TABLE} (article_id, document, source, language, dated)
SELECT articles.id, {_DOCUMENT.format(row="articles")}, articles.source, articles.language,
    coalesce(articles.published_at, articles.first_seen_at)
FROM articles
ON CONFLICT (article_id) DO NOTHING"""
POSTGRES_DROP = [
    "DROP TRIGGER IF EXISTS articles_search ON articles",
    "DROP FUNCTION IF EXISTS newsmill_index_article()",
    f"DROP TABLE IF EXISTS {POSTGRES_TABLE}",
]


def tables(dialect: str) -> set[str]:
    """The index's tables in this dialect's database, FTS5's shadow tables included."""
    if dialect == "sqlite":
        return {SQLITE_TABLE, *(f"{SQLITE_TABLE}_{s}" for s in ("data", "idx", "docsize", "config"))}
    return {POSTGRES_TABLE}


def is_index_table(name: str | None) -> bool:
    return name is not None and (name == POSTGRES_TABLE or name.startswith(SQLITE_TABLE))


def install(connection: Connection, *, backfill: bool = True) -> None:
    """Create the index and its triggers (in the connection's transaction), and index the
    articles already stored."""
    dialect = connection.dialect.name
    if dialect == "sqlite":
        statements, fill = SQLITE, SQLITE_BACKFILL
    elif dialect == "postgresql":
        statements, fill = POSTGRES, POSTGRES_BACKFILL
    else:  # pragma: no cover - newsmill supports these two
        raise NotImplementedError(f"no full-text index for {dialect}")
    for statement in statements:
        connection.exec_driver_sql(statement)
    if backfill:
        connection.exec_driver_sql(fill)


def drop(connection: Connection) -> None:
    statements = SQLITE_DROP if connection.dialect.name == "sqlite" else POSTGRES_DROP
    for statement in statements:
        connection.exec_driver_sql(statement)
