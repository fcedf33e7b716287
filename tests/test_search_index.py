"""What made search fast at 100,000 articles keeps its answers: SQLite's prefix indexes (migration
0012 rebuilt the FTS5 table) find what prefixes found before the upgrade and follow later writes;
PostgreSQL's index rows follow an article's source and date, which search filters them by; a
phrase whose words many articles hold is looked for among the newest of them, and its count
says so; the latest articles of one source come through their own index."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, insert, text

from pipelines.storage import schema, searchquery
from pipelines.storage.database import Store
from pipelines.storage.models import Article
from pipelines.storage.search import PHRASE_CANDIDATES, Count, Filters, count, latest, search
from tests.databases import *  # noqa: F403  (the database fixtures)

START = datetime(2025, 1, 1, tzinfo=UTC)


def row(n: int, text_: str, *, source: str = "ledger", title: str | None = None) -> dict[str, Any]:
    published = START + timedelta(hours=n)
    return {
        "source": source,
        "url": f"https://{source}.example/{n}",
        "title": title or f"Story {n}",
        "authors": [],
        "tags": [],
        "published_at": published,
        "language": "en",
        "text": text_,
        "content_hash": f"{source}-{n:040d}",
        "first_seen_at": published,
        "fetched_at": published,
    }


def found(store: Store, query: str, **filters: Any) -> set[int]:
    page = search(store.engine, query, Filters(**filters), limit=100)
    assert page.next is None
    return {hit.id for hit in page.hits}


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    schema.prepare(database_url)
    opened = Store(database_url)
    yield opened
    opened.close()


WORDS = ["lighthouse", "lightning", "lilac", "linger", "ledger", "lighter"]
PREFIXES = ["li*", "lig*", "ligh*", "light*", "lightn*", "le*", "zz*"]


def test_prefixes_find_what_they_found_before_the_upgrade_and_follow_later_writes(database_url: str) -> None:
    schema.upgrade(database_url, "0011")
    engine = create_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(insert(Article), [row(n, f"The {w} was seen.") for n, w in enumerate(WORDS)])
    finally:
        engine.dispose()
    store = Store(database_url)
    try:
        before = {p: found(store, p) for p in PREFIXES}
        assert before["lig*"] == {1, 2, 6}  # lighthouse, lightning, lighter
        assert schema.upgrade(database_url) == ("0011", schema.HEAD)
        assert {p: found(store, p) for p in PREFIXES} == before
        with store.engine.begin() as connection:
            connection.execute(insert(Article), [row(10, "A lightship came in.")])
            connection.execute(text("UPDATE articles SET text = 'The keeper was seen.' WHERE id = 1"))
            connection.execute(text("DELETE FROM articles WHERE id = 2"))
        assert found(store, "lig*") == {6, 7}
        assert found(store, "ligh*") == found(store, "light*") == {6, 7}
        assert found(store, "li*") == {3, 4, 6, 7}
        assert found(store, "ke*") == {1}
    finally:
        store.close()


def test_filters_follow_an_articles_source_and_date_when_they_change(store: Store) -> None:
    with store.engine.begin() as connection:
        connection.execute(insert(Article), [row(n, "Harbour lights were repaired.") for n in range(4)])
    assert found(store, "harbour", source="ledger") == {1, 2, 3, 4}
    assert found(store, "harbour", since=START + timedelta(hours=2)) == {3, 4}
    with store.engine.begin() as connection:
        connection.execute(text("UPDATE articles SET source = 'gazette' WHERE id = 1"))
        # Without a publication date, its date is when it was first seen: hour 3.
        connection.execute(text("UPDATE articles SET published_at = NULL WHERE id = 4"))
        connection.execute(
            text("UPDATE articles SET published_at = :late, language = 'de' WHERE id = 2"),
            {"late": START + timedelta(days=30)},
        )
    assert found(store, "harbour", source="ledger") == {2, 3, 4}
    assert found(store, "harbour", source="gazette") == {1}
    assert found(store, "harbour", since=START + timedelta(hours=2)) == {2, 3, 4}
    assert found(store, "harbour", until=START + timedelta(hours=2)) == {1}
    assert found(store, "harbour", language="de") == {2}
    assert count(store.engine, "harbour", Filters(source="ledger")) == Count(3, exact=True)


def test_a_phrase_is_looked_for_among_the_newest_articles_holding_its_words(store: Store) -> None:
    older = PHRASE_CANDIDATES + 50
    rows = [row(0, "The tide table was printed.")]  # the phrase, in the oldest article
    rows += [row(n, "The table of the tide was printed.") for n in range(1, older)]  # its words only
    rows += [row(n, "A new tide table was printed.") for n in range(older, older + 5)]
    with store.engine.begin() as connection:
        connection.execute(insert(Article), rows)
    newest = set(range(older + 1, older + 6))
    if store.engine.dialect.name == "sqlite":  # FTS5 keeps positions in the index: every match
        assert found(store, '"tide table"') == newest | {1}
        assert count(store.engine, '"tide table"') == Count(6, exact=True)
    else:
        assert found(store, '"tide table"') == newest
        assert count(store.engine, '"tide table"') == Count(5, exact=False)
        counted = count(store.engine, '"tide table"')
        assert str(counted) == "at least 5"
        assert counted.note and f"{PHRASE_CANDIDATES:,} newest articles holding its words" in counted.note
    # Narrowed so that fewer articles hold the words, the old one is found and counted exactly.
    assert found(store, '"tide table"', until=START + timedelta(hours=10)) == {1}
    early = Filters(until=START + timedelta(hours=10))
    assert count(store.engine, '"tide table"', early) == Count(1, exact=True)
    assert Count(1, exact=True).note is None and Count(10_000, exact=False).note is None
    assert found(store, '"table tide"') == set()


def test_a_phrase_has_a_loose_form_the_index_answers_alone() -> None:
    query = searchquery.parse('"central bank" rates OR "interest rate"* covid-19 -"trade war" -sport')
    assert searchquery.has_phrase(query)
    assert not searchquery.has_phrase(searchquery.parse("rates infla* -sport"))
    sql, params = searchquery.to_tsquery_sql(query, loose=True, names="l")
    assert "phraseto_tsquery" not in sql and sql.count("plainto_tsquery('simple'") == 4
    assert set(params) == {f"l{n}" for n in range(5)}  # the excluded phrase left out
    assert "'interest' & 'rate':*" in params.values()
    assert "trade war" not in params.values() and "sport" in params.values()


def test_the_latest_articles_of_one_source_come_newest_first(store: Store) -> None:
    with store.engine.begin() as connection:
        connection.execute(
            insert(Article),
            [row(n, "Text.", source="gazette" if n % 3 == 0 else "ledger") for n in range(30)],
        )
    page = latest(store.engine, Filters(source="gazette"), limit=4)
    dates = [hit.published_at for hit in page.hits if hit.published_at]
    assert [hit.source for hit in page.hits] == ["gazette"] * 4
    assert dates == sorted(dates, reverse=True) and dates[0] == START + timedelta(hours=27)
    assert page.next is not None
    following = latest(store.engine, Filters(source="gazette"), limit=10, cursor=page.next)
    hours = [(hit.published_at - START) // timedelta(hours=1) for hit in following.hits if hit.published_at]
    assert hours == [15, 12, 9, 6, 3, 0]
