"""`recheck` re-fetches an article through one URL, its own, and conditionally (issue 22),
even when the article was first fetched by another URL (a short link, a tracking variant) and
has copies at others: none of those is downloaded again. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.conftest import (
    ARTICLE_PATTERNS,
    crawl_row,
    export_records,
    write_config,
)
from tests.databases import *  # noqa: F403  (the database fixtures)
from tests.site.server import NewsSite, add_copies, link_page, synthetic_article


def test_a_recheck_asks_once_per_article_by_its_own_url_with_the_validators_of_the_url_it_came_by(
    database_url: str, tmp_path: Path
) -> None:
    with NewsSite(fixtures=False) as site:
        stories = [synthetic_article(n, published=datetime.now(UTC) - timedelta(hours=n)) for n in (1, 2, 3)]
        for story in stories:
            site.add_article(story)
        # Two stories are listed only by a short URL serving the story's page, whose
        # rel=canonical names the story's own URL; the third with a wire copy beside it that
        # has no canonical link (whichever comes first is stored; the other is its alias).
        listed = ["/s/1.html", "/s/2.html", stories[2].path, *add_copies(site, stories[2], 1)]
        for n, story in enumerate(stories[:2], 1):
            site.add_page(f"/s/{n}.html", site.render_article(story))
        site.add_page("/latest", link_page(listed))
        config = write_config(
            tmp_path,
            {"ledger": {"start_urls": [site.url_for("/latest")],
                        "articles": [*ARTICLE_PATTERNS, r"/s/\d+\.html$"], "recheck": "1d"}},
            database=database_url,
        )
        first = crawl_row(config)
        assert (first["new"], first["duplicates"]) == ("3", "1"), first
        own = {r["url"].removeprefix(site.url) for r in export_records(config)}
        assert {stories[0].path, stories[1].path} < own

        for _ in range(2):  # a recheck that finds nothing changed leaves the next one as cheap
            site.clear_log()
            crawl_row(config)
            pages = [r for r in site.requests if r.path.endswith(".html")]
            assert sorted(r.path for r in pages) == sorted(own), "rechecked through another URL"
            assert all(r.headers.get("if-none-match") for r in pages), "a recheck was not conditional"
            assert {r.status for r in pages} == {304}
