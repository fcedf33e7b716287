"""Reading the store back: full-text search, ranked, with highlighted snippets, and the latest
articles, both filtered by source, language and date, a page at a time.

The index itself (FTS5 on SQLite, a tsvector table on PostgreSQL) is pipelines.storage.fulltext's;
the query language is pipelines.storage.searchquery's. An article's date here is its publication date,
or when it was first seen if the page gave none: the date a reader means by "this week".
"""

from __future__ import annotations

import base64
import binascii
import html
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Engine, and_, bindparam, func, or_, select, text
from sqlalchemy.exc import DBAPIError

from pipelines.storage import fulltext, searchquery
from pipelines.storage.models import Article, UTCDateTime
from pipelines.storage.searchquery import QuerySyntaxError

__all__ = [
    "Count", "Filters", "Hit", "InvalidCursor", "Page", "QuerySyntaxError", "count", "latest", "search"
]

# Private-use characters around each match in a snippet: no article text contains them, so
# the snippet can be escaped as text and the marks turned into <mark> after.
MARK_START, MARK_END = "\ue000", "\ue001"
MAX_LIMIT = 100
RANKED_POOL = 500  # the matches stored last that are ranked (search())
COUNT_CAP = 10_000  # count() stops counting past this
# PostgreSQL: a phrase is looked for among this many articles holding its words, the newest
# (search() and count() alike). Its word order is checked on each one's tsvector, read back
# from TOAST: some 15 us an article, 1.5 s of CPU for two common words at 100,000 articles.
PHRASE_CANDIDATES = 2000
# FTS5's snippet(): from the text column (2), about this many tokens around the best match.
_SQLITE_SNIPPET_TOKENS = 28
_POSTGRES_HEADLINE = (
    f"StartSel={MARK_START}, StopSel={MARK_END}, MaxFragments=2, MaxWords=18, MinWords=8, "
    'FragmentDelimiter=" … "'
)


class InvalidCursor(ValueError):
    """A `cursor` that no page of these results handed out."""


@dataclass(frozen=True, slots=True)
class Filters:
    source: str | None = None
    language: str | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive


@dataclass(frozen=True, slots=True)
class Hit:
    id: int
    source: str
    url: str
    title: str | None
    published_at: datetime | None
    first_seen_at: datetime
    language: str | None
    description: str | None
    snippet: str | None  # with MARK_START / MARK_END around matches; None when not searched

    def as_dict(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "id": self.id,
            "source": self.source,
            "url": self.url,
            "title": self.title,
            "published_at": self.published_at.isoformat() if self.published_at else None,
            "first_seen_at": self.first_seen_at.isoformat(),
            "language": self.language,
        }
        if self.snippet is not None:
            record["snippet"] = snippet_html(self.snippet)
        return record


@dataclass(frozen=True, slots=True)
class Count:
    """How many articles match: `value` exactly, or at least `value` when counting stopped
    (past COUNT_CAP, or, on PostgreSQL, a phrase whose words more than PHRASE_CANDIDATES
    articles hold)."""

    value: int
    exact: bool

    def __str__(self) -> str:
        return f"{self.value:,}" if self.exact else f"at least {self.value:,}"

    @property
    def note(self) -> str | None:
        """Why counting stopped short of COUNT_CAP, for the reader; None when it did not."""
        if self.exact or self.value >= COUNT_CAP:
            return None
        return (
            f"a phrase is looked for among the {PHRASE_CANDIDATES:,} newest articles holding its words; "
            "a source or dates reach older ones"
        )


@dataclass(frozen=True, slots=True)
class Page:
    hits: list[Hit]
    next: str | None  # the cursor of the page after this one; None on the last page


def snippet_html(snippet: str) -> str:
    """The snippet as HTML: its text escaped, each match in <mark>."""
    return html.escape(snippet).replace(MARK_START, "<mark>").replace(MARK_END, "</mark>")


def snippet_text(snippet: str, start: str = "", end: str = "") -> str:
    return snippet.replace(MARK_START, start).replace(MARK_END, end)


def parse_date(value: str, *, end: bool = False) -> datetime:
    """`2024-03-05` or an ISO 8601 instant, as UTC. A bare day as an end bound means the end
    of that day, so `until 2024-03-05` includes the 5th."""
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return moment + timedelta(days=1) if end else moment
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a date like 2024-03-05 or 2024-03-05T14:30:00Z") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# -- cursors: opaque to callers, a little JSON inside -------------------------------------------


def _encode(state: Mapping[str, Any]) -> str:
    raw = json.dumps(state, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> dict[str, Any]:
    try:
        state = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidCursor("the cursor is not one a page of results gave") from None
    if not isinstance(state, dict):
        raise InvalidCursor("the cursor is not one a page of results gave")
    return state


def _offset(cursor: str | None) -> int:
    if cursor is None:
        return 0
    offset = _decode(cursor).get("o")
    if not isinstance(offset, int) or offset < 0:
        raise InvalidCursor("the cursor is not one a page of search results gave")
    return offset


# -- queries ------------------------------------------------------------------------------------

_COLUMNS = "a.id, a.source, a.url, a.title, a.published_at, a.first_seen_at, a.language, a.description"
_DATED_SQL = "coalesce(a.published_at, a.first_seen_at)"


def _filter_sql(filters: Filters, row: str = "a", dated: str = _DATED_SQL) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    binds: list[Any] = []
    if filters.source is not None:
        clauses.append(f"{row}.source = :source")
        binds.append(bindparam("source", filters.source))
    if filters.language is not None:
        clauses.append(f"{row}.language = :language")
        binds.append(bindparam("language", filters.language))
    if filters.since is not None:
        clauses.append(f"{dated} >= :since")
        binds.append(bindparam("since", filters.since, type_=UTCDateTime()))
    if filters.until is not None:
        clauses.append(f"{dated} < :until")
        binds.append(bindparam("until", filters.until, type_=UTCDateTime()))
    return "".join(f" AND {c}" for c in clauses), binds


def _hit(row: Any, snippet: str | None) -> Hit:
    return Hit(
        id=row.id,
        source=row.source,
        url=row.url,
        title=row.title,
        published_at=row.published_at,
        first_seen_at=row.first_seen_at,
        language=row.language,
        description=row.description,
        snippet=snippet,
    )


def _typed(statement: Any) -> Any:
    return statement.columns(published_at=UTCDateTime(), first_seen_at=UTCDateTime())


def _run(engine: Engine, statement: Any) -> list[Any]:
    """Rows of a search statement; a query the database's search syntax refuses all the same
    (which searchquery's quoting should make impossible) is the user's error, not a crash."""
    try:
        with engine.connect() as connection:
            if engine.dialect.name == "postgresql":
                # PostgreSQL's planner counts `@@` as cheap, and for a common word prefers walking
                # the table (by id, to stop after the pool) testing each article's tsvector, read
                # back from TOAST: 15 us each, 80 ms for 5,000. The GIN index's bitmap answers a
                # query of words without reading one; these make it the plan, for this
                # transaction only. Parallel workers cost more to start than such a query saves.
                connection.exec_driver_sql(
                    "SET LOCAL enable_seqscan = off; SET LOCAL enable_indexscan = off; "
                    "SET LOCAL max_parallel_workers_per_gather = 0"
                )
            return list(connection.execute(statement))
    except DBAPIError as exc:
        words = str(exc.orig).lower()
        if any(k in words for k in ("fts5", "syntax error in tsquery", "tsquery", "malformed match")):
            raise QuerySyntaxError(f"the search database refused the query: {exc.orig}") from None
        raise


def search(
    engine: Engine, query: str, filters: Filters = Filters(), limit: int = 20, cursor: str | None = None
) -> Page:
    """The best matches first (bm25 on SQLite, ts_rank on PostgreSQL), each with a snippet.

    Ranked are the RANKED_POOL matches stored last: ranking every match of a common word
    would score tens of thousands of articles per query, where the newest thousand are both
    what a reader of news wants first and a cost that does not grow with the store. A query
    matching more pages through those; narrowing it (words, a source, dates) reaches the rest."""
    parsed = searchquery.parse(query)
    limit = max(1, min(limit, MAX_LIMIT))
    offset = _offset(cursor)
    where, binds = _filters_for(engine, filters)
    binds += [bindparam("pool", RANKED_POOL), bindparam("limit", limit + 1), bindparam("offset", offset)]
    if engine.dialect.name == "sqlite":
        rows = _sqlite_search(engine, searchquery.to_fts5(parsed), where, binds)
    else:
        rows = _postgres_search(engine, parsed, where, binds)
    hits = [_hit(row, row.snippet) for row in rows[:limit]]
    more = _encode({"o": offset + limit}) if len(rows) > limit else None
    return Page(hits, more)


def _filters_for(engine: Engine, filters: Filters) -> tuple[str, list[Any]]:
    # PostgreSQL's index table repeats what filters (pipelines.storage.fulltext); SQLite's
    # FTS5 table joins `articles`.
    if engine.dialect.name == "postgresql":
        return _filter_sql(filters, row="s", dated="s.dated")
    return _filter_sql(filters)


def _sqlite_search(engine: Engine, match: str, where: str, binds: list[Any]) -> list[Any]:
    fts = fulltext.SQLITE_TABLE
    # FTS5 hands its matches over in rowid order, newest first, and stops at the pool's size;
    # `rank` is its bm25 with the weights kept in the table's config (pipelines.storage.fulltext).
    join = f" JOIN articles a ON a.id = {fts}.rowid" if where else ""
    ranked = text(
        f"WITH pool AS (SELECT {fts}.rowid AS id, {fts}.rank AS score FROM {fts}{join} "
        f"WHERE {fts} MATCH :match{where} ORDER BY {fts}.rowid DESC LIMIT :pool) "
        "SELECT id FROM pool ORDER BY score, id DESC LIMIT :limit OFFSET :offset"
    ).bindparams(*binds, match=match)
    ids = [row.id for row in _run(engine, ranked)]
    if not ids:
        return []
    # Snippets for this page's articles only: snippet() reads and tokenises the whole text.
    page = text(
        f"SELECT {_COLUMNS}, snippet({fts}, 2, :ms, :me, '…', {_SQLITE_SNIPPET_TOKENS}) AS snippet "
        f"FROM {fts} JOIN articles a ON a.id = {fts}.rowid "
        f"WHERE {fts} MATCH :match AND {fts}.rowid IN :ids"
    ).bindparams(bindparam("ids", ids, expanding=True), ms=MARK_START, me=MARK_END, match=match)
    rows = {row.id: row for row in _run(engine, _typed(page))}
    return [rows[i] for i in ids if i in rows]


def _postgres_query(parsed: searchquery.Query, where: str) -> tuple[str, str, dict[str, str]]:
    """The tsquery's CTE, and a select of the matching article ids, newest first (unlimited).

    A query of words is answered by the GIN index alone. One with a phrase (or `covid-19`)
    takes the PHRASE_CANDIDATES newest articles holding its words in any order, which the
    index answers alike, and checks the word order on those only."""
    table = fulltext.POSTGRES_TABLE
    tsquery, params = searchquery.to_tsquery_sql(parsed, fulltext.POSTGRES_CONFIG)
    if not searchquery.has_phrase(parsed):
        matches = f"SELECT s.article_id FROM q, {table} s WHERE s.document @@ q.query{where}"
        return f"q AS (SELECT {tsquery} AS query)", matches, params
    loose, loose_params = searchquery.to_tsquery_sql(parsed, fulltext.POSTGRES_CONFIG, loose=True, names="l")
    params |= loose_params
    # The document is read in a subquery, by the candidate's id, so that the planner cannot
    # test the phrase on every article holding its words before picking the newest.
    matches = (
        f"SELECT c.article_id FROM (SELECT s.article_id FROM q, {table} s "
        f"WHERE s.document @@ q.loose{where} ORDER BY s.article_id DESC LIMIT :candidates) c, q "
        f"WHERE (SELECT d.document FROM {table} d WHERE d.article_id = c.article_id) @@ q.query"
    )
    return f"q AS (SELECT {tsquery} AS query, {loose} AS loose)", matches, params


def _postgres_search(engine: Engine, parsed: searchquery.Query, where: str, binds: list[Any]) -> list[Any]:
    table = fulltext.POSTGRES_TABLE
    cte, matches, params = _postgres_query(parsed, where)
    if searchquery.has_phrase(parsed):
        binds = [*binds, bindparam("candidates", PHRASE_CANDIDATES)]
    statement = text(
        f"WITH {cte}, pool AS ({matches} ORDER BY 1 DESC LIMIT :pool), "
        "ranked AS (SELECT pool.article_id AS id, ts_rank(s.document, q.query) AS rank "
        f"FROM pool JOIN {table} s ON s.article_id = pool.article_id, q "
        "ORDER BY rank DESC, id DESC LIMIT :limit OFFSET :offset) "
        f"SELECT {_COLUMNS}, ts_headline('{fulltext.POSTGRES_CONFIG}', a.text, q.query, :headline) "
        "AS snippet FROM ranked JOIN articles a ON a.id = ranked.id, q ORDER BY ranked.rank DESC, a.id DESC"
    ).bindparams(*binds, headline=_POSTGRES_HEADLINE, **params)
    return _run(engine, _typed(statement))


def count(engine: Engine, query: str, filters: Filters = Filters()) -> Count:
    """How many articles match, counted up to COUNT_CAP (a summary says "at least 10,000"):
    counting every match of a common word costs more than the search itself. On PostgreSQL a
    phrase's matches are counted among the articles search() looks at (PHRASE_CANDIDATES)."""
    parsed = searchquery.parse(query)
    where, binds = _filters_for(engine, filters)
    if engine.dialect.name == "sqlite":
        fts = fulltext.SQLITE_TABLE
        join = f" JOIN articles a ON a.id = {fts}.rowid" if where else ""
        statement = text(
            f"SELECT count(*) FROM (SELECT 1 FROM {fts}{join} WHERE {fts} MATCH :match{where} LIMIT :cap)"
        ).bindparams(*binds, match=searchquery.to_fts5(parsed), cap=COUNT_CAP + 1)
        found = int(_run(engine, statement)[0][0])
        return Count(min(found, COUNT_CAP), found <= COUNT_CAP)
    cte, matches, params = _postgres_query(parsed, where)
    if not searchquery.has_phrase(parsed):
        statement = text(
            f"WITH {cte} SELECT count(*) FROM ({matches} LIMIT :cap) AS matches"
        ).bindparams(*binds, cap=COUNT_CAP + 1, **params)
        found = int(_run(engine, statement)[0][0])
        return Count(min(found, COUNT_CAP), found <= COUNT_CAP)
    # Whether more articles hold the phrase's words than were checked: then the count is a floor.
    table = fulltext.POSTGRES_TABLE
    statement = text(
        f"WITH {cte} SELECT (SELECT count(*) FROM ({matches}) AS m) AS found, "
        f"(SELECT count(*) FROM (SELECT 1 FROM q, {table} s WHERE s.document @@ q.loose{where} "
        "LIMIT :over) AS c) AS candidates"
    ).bindparams(*binds, candidates=PHRASE_CANDIDATES, over=PHRASE_CANDIDATES + 1, **params)
    row = _run(engine, statement)[0]
    return Count(int(row.found), int(row.candidates) <= PHRASE_CANDIDATES)


def latest(engine: Engine, filters: Filters = Filters(), limit: int = 20, cursor: str | None = None) -> Page:
    """The newest articles first (by publication date, else first seen), no query."""
    limit = max(1, min(limit, MAX_LIMIT))
    dated: ColumnElement[datetime] = func.coalesce(Article.published_at, Article.first_seen_at)
    statement = select(
        Article.id,
        Article.source,
        Article.url,
        Article.title,
        Article.published_at,
        Article.first_seen_at,
        Article.language,
        Article.description,
        dated.label("dated"),
    )
    if filters.source is not None:
        statement = statement.where(Article.source == filters.source)
    if filters.language is not None:
        statement = statement.where(Article.language == filters.language)
    if filters.since is not None:
        statement = statement.where(dated >= filters.since)
    if filters.until is not None:
        statement = statement.where(dated < filters.until)
    if cursor is not None:
        state = _decode(cursor)
        try:
            after, after_id = datetime.fromisoformat(state["d"]), int(state["i"])
        except (KeyError, TypeError, ValueError):
            raise InvalidCursor("the cursor is not one a page of the latest articles gave") from None
        # (dated, id) < (after, after_id), spelled so that both databases use ix_articles_dated
        statement = statement.where(or_(dated < after, and_(dated <= after, Article.id < after_id)))
    statement = statement.order_by(dated.desc(), Article.id.desc()).limit(limit + 1)
    with engine.connect() as connection:
        rows = list(connection.execute(statement))
    hits = [_hit(row, None) for row in rows[:limit]]
    more = None
    if len(rows) > limit:
        last = rows[limit - 1]
        more = _encode({"d": last.dated.isoformat(), "i": last.id})
    return Page(hits, more)
