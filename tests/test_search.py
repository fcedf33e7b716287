"""Full-text search: what a real crawl stored is found by its words, phrases and prefixes, ranked,
filtered and highlighted, on SQLite and PostgreSQL alike; the index follows revisions and
deletions, `newsmill db upgrade` indexes what was stored before, and a query the syntax
refuses is a message (exit 2), never a crash."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text

from pipelines.storage import schema, searchquery
from pipelines.storage.database import Store
from pipelines.storage.search import MARK_END, MARK_START, Count, Filters, count, latest, search
from tests.conftest import describe, export_records, run_newsmill
from tests.crawled import Crawled, crawled
from tests.databases import *  # noqa: F403  (the database fixtures)
from tests.site.server import NewsSite, synthetic_article

__all__ = ["crawled"]


def words(text: str | None) -> set[str]:
    return set(re.findall(r"[^\W_]+", (text or "").casefold()))


@pytest.fixture(scope="module")
def records(crawled: Crawled) -> list[dict[str, Any]]:
    return export_records(crawled.config)


@pytest.fixture(scope="module")
def store(crawled: Crawled) -> Iterator[Store]:
    opened = Store(crawled.database)
    yield opened
    opened.close()


def found(store: Store, query: str, **filters: Any) -> list[int]:
    page = search(store.engine, query, Filters(**filters), limit=100)
    assert page.next is None
    return [hit.id for hit in page.hits]


def containing(records: list[dict[str, Any]], word: str) -> set[int]:
    return {
        r["id"] for r in records if word in words(r["title"]) | words(r["description"]) | words(r["text"])
    }


# -- the query language ---------------------------------------------------------------------------


def test_query_language_is_quoted_for_fts5_and_for_tsquery() -> None:
    query = searchquery.parse('"central bank" rates OR prices infla* -sport covid-19 NEAR(x) title:y')
    assert searchquery.to_fts5(query) == (
        '(("central bank") AND ("rates" OR "prices") AND ("infla"*) AND ("covid-19") AND ("NEAR(x)") '
        'AND ("title:y")) NOT "sport"'
    )
    sql, params = searchquery.to_tsquery_sql(query)
    assert sql.count("phraseto_tsquery('simple'") == 7
    assert len(re.findall(r"(?<![a-z])to_tsquery\('simple'", sql)) == 1
    assert "!!phraseto_tsquery" in sql
    assert params["q3"] == "'infla':*"
    assert "central bank" in params.values() and "covid-19" in params.values()


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ('"central bank', "quote is not closed"),
        ("-sport", "needs a word to look for"),
        ("OR rates", "OR needs a word on each side"),
        ("rates OR", "OR needs a word on each side"),
        ("rates OR -sport", "OR cannot join an excluded word"),
        ("* ( ) :", "no word to look for"),
        ("", "no word to look for"),
        (" ".join(f"w{n}" for n in range(40)), "at most 32"),
        ("rates s*", "a prefix needs two letters or more"),
        ('"central b"*', "a prefix needs two letters or more"),
    ],
)
def test_a_query_the_syntax_refuses_says_why(query: str, message: str) -> None:
    with pytest.raises(searchquery.QuerySyntaxError, match=re.escape(message)):
        searchquery.parse(query)


# -- searching what a crawl stored ----------------------------------------------------------------


def test_every_stored_article_is_found_by_a_word_of_its_title(
    store: Store, records: list[dict[str, Any]]
) -> None:
    assert len(records) >= 10
    for record in records:
        # The title's rarest word: the article is among the matches, and exactly the articles
        # holding that word match.
        # PostgreSQL's parser takes `<b>` in a title for a tag and indexes no word of it.
        title = re.sub(r"</?\w+[^>]*>", " ", record["title"])
        word = min(words(title), key=lambda w: (len(containing(records, w)), w))
        assert set(found(store, word)) == containing(records, word), word
        assert record["id"] in found(store, word)


def test_a_word_in_the_text_only_finds_its_articles_with_the_match_marked(
    store: Store, records: list[dict[str, Any]]
) -> None:
    page = search(store.engine, "torrential", limit=10)
    assert [h.id for h in page.hits] == sorted(containing(records, "torrential"))
    (hit,) = page.hits
    assert hit.title == "Floods Displace Thousands as River Delta Braces for More Rain"
    assert f"{MARK_START}torrential{MARK_END}" in (hit.snippet or "")
    assert hit.as_dict()["snippet"].count("<mark>torrential</mark>") == 1


def test_a_title_match_ranks_before_a_match_in_the_text(store: Store, records: list[dict[str, Any]]) -> None:
    checked = 0
    for word in sorted(set().union(*(words(r["title"]) for r in records))):
        in_title = {r["id"] for r in records if word in words(r["title"])}
        only_in_text = containing(records, word) - in_title
        # Words most texts use ("with", "after") rank by how often a text repeats them too, as
        # bm25 and ts_rank mean them to: the claim is for the words that tell stories apart.
        if len(word) < 5 or not only_in_text or len(containing(records, word)) > len(records) // 3:
            continue
        ranked = found(store, word)
        assert set(ranked[: len(in_title)]) == in_title, word
        checked += 1
    assert checked >= 3, "the fixture site has words in some titles and in other texts"


def test_a_phrase_matches_its_words_in_that_order_only(store: Store, records: list[dict[str, Any]]) -> None:
    having = {r["id"] for r in records if re.search(r"\bcentral\W+bank\b", r["text"], re.I)}
    assert having
    assert set(found(store, '"central bank"')) == having
    assert found(store, '"bank central"') == []


def test_a_prefix_finds_every_word_it_begins(store: Store, records: list[dict[str, Any]]) -> None:
    expected = {
        r["id"]
        for r in records
        if any(w.startswith("torrent") for w in words(f"{r['title']} {r['description']} {r['text']}"))
    }
    assert expected
    assert set(found(store, "torrent*")) == expected
    assert found(store, "torrent") == [] or set(found(store, "torrent")) <= expected


def test_or_and_exclusion_combine_as_sets(store: Store, records: list[dict[str, Any]]) -> None:
    floods, wheat = containing(records, "floods"), containing(records, "wheat")
    assert set(found(store, "floods OR wheat")) == floods | wheat
    assert set(found(store, "floods -wheat")) == floods - wheat
    assert set(found(store, "floods wheat")) == floods & wheat


def test_search_filters_by_source_language_and_date(store: Store, records: list[dict[str, Any]]) -> None:
    blog = {r["id"] for r in records if r["source"] == "ledger-blog"}
    assert blog
    word = "the"
    assert set(found(store, word, source="ledger-blog")) == blog & containing(records, word)
    assert found(store, word, language="xx") == []
    assert set(found(store, word, language="en")) == {
        r["id"] for r in records if r["language"] == "en" and r["id"] in containing(records, word)
    }
    dated = {r["id"]: datetime.fromisoformat(r["published_at"] or r["first_seen_at"]) for r in records}
    cut = sorted(dated.values())[len(dated) // 2]
    assert set(found(store, word, since=cut)) == {i for i, d in dated.items() if d >= cut} & containing(
        records, word
    )
    assert set(found(store, word, until=cut)) == {i for i, d in dated.items() if d < cut} & containing(
        records, word
    )


def test_results_come_a_page_at_a_time_without_gaps(store: Store, records: list[dict[str, Any]]) -> None:
    everything = found(store, "the")
    pages: list[int] = []
    cursor = None
    while True:
        page = search(store.engine, "the", limit=3, cursor=cursor)
        pages.extend(h.id for h in page.hits)
        if page.next is None:
            break
        cursor = page.next
    assert pages == everything
    assert count(store.engine, "the") == Count(len(everything), exact=True)


def test_latest_articles_come_newest_first_a_page_at_a_time(
    store: Store, records: list[dict[str, Any]]
) -> None:
    def dated(record: dict[str, Any]) -> tuple[datetime, int]:
        return datetime.fromisoformat(record["published_at"] or record["first_seen_at"]), record["id"]

    expected = [r["id"] for r in sorted(records, key=dated, reverse=True)]
    seen: list[int] = []
    cursor = None
    while True:
        page = latest(store.engine, limit=4, cursor=cursor)
        seen.extend(h.id for h in page.hits)
        if page.next is None:
            break
        cursor = page.next
    assert seen == expected


# -- the command line -----------------------------------------------------------------------------


def test_cli_search_prints_matches_and_a_summary(crawled: Crawled) -> None:
    result = run_newsmill("search", "torrential", config=crawled.config)
    assert result.returncode == 0, describe(result)
    assert "Floods Displace Thousands" in result.stdout
    assert "torrential rain" in result.stdout
    assert "1 article match 'torrential'" in result.stderr

    result = run_newsmill("search", "the", "--json", "--limit", "2", config=crawled.config)
    assert result.returncode == 0, describe(result)
    document = json.loads(result.stdout)
    assert document["total"] >= len(document["articles"]) == 2
    assert {"id", "source", "url", "title", "published_at", "snippet"} <= set(document["articles"][0])
    assert "<mark>" not in document["articles"][0]["snippet"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (['"central bank'], "quote is not closed"),
        (["--", "-sport"], "needs a word to look for"),
        (["rates", "--since", "last week"], "not a date"),
        (["rates", "--source", "nowhere"], "nowhere"),
        (["rates", "--limit", "0"], "--limit"),
    ],
)
def test_cli_search_refuses_bad_input_with_exit_2(crawled: Crawled, args: list[str], message: str) -> None:
    result = run_newsmill("search", *args, config=crawled.config)
    assert result.returncode == 2, describe(result)
    assert message in result.stderr
    assert "Traceback" not in result.stderr


# -- the index follows the store ------------------------------------------------------------------


def test_the_index_follows_a_revision_and_a_deleted_article(
    database_url: str, make_config: Callable[..., Path]
) -> None:
    with NewsSite(fixtures=False) as site:
        stories = [
            synthetic_article(n, published=datetime.now(UTC) - timedelta(hours=1, minutes=n)) for n in (1, 2)
        ]
        for story in stories:
            site.add_article(story)
        source = {"feeds": [site.url_for("/feed.xml")], "recheck": "1d"}
        config = make_config({"ledger": source}, database=database_url)
        first = run_newsmill("crawl", "-q", "--all", config=config)
        assert first.returncode == 0, describe(first)
        store = Store(database_url)
        try:
            assert len(found(store, "ledger")) == 2
            assert found(store, "quetzalcoatl") == []
            site.update_article(
                stories[0].path,
                paragraphs=("Quetzalcoatl festival draws record crowds to the harbour.",
                            *stories[0].paragraphs[1:]),
            )
            second = run_newsmill("crawl", "-q", "--all", config=config)
            assert second.returncode == 0, describe(second)
            assert "revised 1" in second.stdout, second.stdout
            (revised,) = found(store, "quetzalcoatl")
            kept = f"{stories[0].title} {stories[0].description} {' '.join(stories[0].paragraphs[1:])}"
            gone = {w for w in words(stories[0].paragraphs[0]) - words(kept) if w.isalpha()}
            assert gone, "the replaced paragraph had words of its own"
            assert all(revised not in found(store, w) for w in gone)
            with store.engine.begin() as connection:
                connection.execute(text("DELETE FROM articles WHERE id = :id"), {"id": revised})
            assert found(store, "quetzalcoatl") == []
            assert len(found(store, "ledger")) == 1
        finally:
            store.close()


def test_upgrade_indexes_the_articles_stored_before_the_index(database_url: str) -> None:
    config = schema.alembic_config()
    before = ScriptDirectory.from_config(config).get_revision("0007").down_revision
    assert isinstance(before, str)
    engine = create_engine(database_url)
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, before)
            connection.execute(
                text(
                    "INSERT INTO articles (source, url, title, authors, tags, text, content_hash, "
                    "first_seen_at, fetched_at) VALUES ('ledger', 'https://ledger.example/a', "
                    "'Lighthouse keepers return', '[]', '[]', 'The last keepers left in 1989.', 'h1', "
                    "'2024-03-01 12:00:00', '2024-03-01 12:00:00')"
                )
            )
    finally:
        engine.dispose()
    assert schema.upgrade(database_url) == (before, schema.HEAD)
    store = Store(database_url)
    try:
        assert len(found(store, "lighthouse")) == 1
        assert len(found(store, "keep*")) == 1
        assert found(store, "1989") == found(store, "lighthouse")
    finally:
        store.close()
