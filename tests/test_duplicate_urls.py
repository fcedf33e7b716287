"""Every URL an article is reached by is kept (issue 22): a same-run copy of a story (its
text met again at another URL, no canonical link) leaves its URL with the story, so no later
run downloads it again and `export --with-duplicates` lists it. On SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, text

from pipelines.storage import schema, spool
from pipelines.storage.database import Store
from pipelines.storage.records import ArticleRecord
from tests.conftest import (
    ARTICLE_PATTERNS,
    crawl_row,
    export_records,
    write_config,
)
from tests.databases import *  # noqa: F403  (the database fixtures)
from tests.dbtools import synthetic_records
from tests.site.server import NewsSite, add_copies, link_page, synthetic_article


def test_copies_met_in_one_run_keep_their_urls_and_are_never_downloaded_again(
    database_url: str, tmp_path: Path
) -> None:
    with NewsSite(fixtures=False) as site:
        stories = [synthetic_article(n) for n in range(1, 7)]
        paths: list[str] = []
        for story in stories:
            site.add_article(story)
            paths += [story.path, *add_copies(site, story, 2)]
        site.add_page("/latest", link_page(paths))
        config = write_config(tmp_path, {"ledger": {"start_urls": [site.url_for("/latest")],
                                                    "articles": ARTICLE_PATTERNS}},
                              database=database_url)
        first = crawl_row(config)
        assert (first["new"], first["duplicates"]) == ("6", "12"), first
        every = export_records(config, "--with-duplicates")
        assert sorted(r["url"].removeprefix(site.url) for r in every) == sorted(paths)
        by_story = {r["url"]: r for r in export_records(config)}
        assert len(by_story) == 6
        assert sum(len(r["urls"]) for r in by_story.values()) == 12  # each story's two copies

        # The listing changes: a new story and its copies come first; the old links stay.
        fresh = synthetic_article(7)
        site.add_article(fresh)
        fresh_paths = [fresh.path, *add_copies(site, fresh, 2)]
        site.add_page("/latest", link_page(fresh_paths + paths))
        site.clear_log()
        second = crawl_row(config)
        downloaded = [p for p in site.requested_paths() if p.endswith(".html")]
        assert sorted(downloaded) == sorted(fresh_paths), "a known URL was downloaded again"
        assert (second["new"], second["duplicates"]) == ("1", "2"), second
        assert len(export_records(config, "--with-duplicates")) == 21


def test_a_copys_urls_are_stored_with_its_story_in_the_same_batch_or_a_later_one_and_through_the_spool(
    database_url: str,
) -> None:
    first, second = synthetic_records(2)
    schema.prepare(database_url)
    store = Store(database_url)
    try:
        def copy_of(record: ArticleRecord, *urls: str) -> ArticleRecord:
            link = ArticleRecord(record.source, record.url, "", record.content_hash, record.fetched_at,
                                 aliases=list(urls), only_urls=True)
            return spool.decode(spool.encode(link))  # as an outage would hand it back

        assert store.store_articles([first, copy_of(first, "https://wire.example/1")]) == [True, False]
        assert store.store_articles([copy_of(first, "https://wire.example/2"), second]) == [False, True]
        urls = {u for u, _ in url_rows(database_url)}
        assert {"https://wire.example/1", "https://wire.example/2", first.url, second.url} <= urls
        owners = dict(url_rows(database_url))
        assert owners["https://wire.example/1"] == owners["https://wire.example/2"] == owners[first.url]
        assert store.count_articles() == 2
    finally:
        store.close()


def url_rows(database: str) -> list[tuple[str, int]]:
    engine = create_engine(database)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT url, article_id FROM article_urls"))
            return [(r[0], r[1]) for r in rows]
    finally:
        engine.dispose()
