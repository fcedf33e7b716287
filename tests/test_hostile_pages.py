"""Pages that mislead or misbehave (issue 22): a charset that lies, a date in IST, a 150,000
character title over one character of text, fields that never end, a gzip bomb, and a short
breaking-news item that must still be stored. One real crawl of the fixture site into SQLite,
read back through `newsmill export`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from pipelines.extraction import limits
from tests.conftest import describe, export_records, parse_summary, run_newsmill, write_config
from tests.site.server import (
    BREAKING_TEXT,
    HOSTILE_PATHS,
    MISLABELLED_TITLE,
    NewsSite,
    add_hostile_pages,
    synthetic_article,
)

PATTERN = r"/\d{4}/\d{2}/\d{2}/[^/]+\.html$"


@dataclass
class Crawl:
    site: NewsSite
    stdout: str
    stderr: str
    records: dict[str, dict[str, Any]]  # by path

    def record(self, name: str) -> dict[str, Any]:
        path = HOSTILE_PATHS[name]
        assert path in self.records, f"{name} ({path}) not stored; stored: {sorted(self.records)}"
        return self.records[path]


@pytest.fixture(scope="module")
def crawl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Crawl]:
    with NewsSite(fixtures=False) as site:
        for n in (1, 2, 3):
            site.add_article(synthetic_article(n))
        add_hostile_pages(site)
        config = write_config(tmp_path_factory.mktemp("hostile"),
                              {"ledger": {"feeds": [site.url_for("/feed.xml")], "articles": [PATTERN]}})
        result = run_newsmill("crawl", "--all", config=config)
        assert result.returncode == 0, describe(result)
        records = {r["url"].removeprefix(site.url): r for r in export_records(config)}
        yield Crawl(site, result.stdout, result.stderr, records)


def test_a_page_in_another_charset_than_it_declares_is_stored_without_replacement_characters(
    crawl: Crawl,
) -> None:
    record = crawl.record("mislabelled")
    assert record["title"] == MISLABELLED_TITLE
    assert "crème brûlée" in record["text"] and "façade" in record["text"], record["text"][:300]
    assert "\ufffd" not in record["title"] + record["text"] + (record["description"] or "")


def test_a_date_given_in_ist_is_read_as_india_time_without_a_warning(crawl: Crawl) -> None:
    assert crawl.record("ist_date")["published_at"] == "2024-04-02T05:00:00+00:00"
    assert "Warning" not in crawl.stderr, crawl.stderr


def test_a_listed_page_with_next_to_no_text_is_not_stored_whatever_its_title(crawl: Crawl) -> None:
    assert HOSTILE_PATHS["giant_title"] not in crawl.records
    assert "no article text 1" in crawl.stdout, crawl.stdout
    biggest = max(len(r["title"] or "") for r in crawl.records.values())
    assert biggest <= limits.TITLE_CHARS


def test_a_short_breaking_news_item_is_still_an_article(crawl: Crawl) -> None:
    assert BREAKING_TEXT in crawl.record("breaking")["text"]


def test_runaway_fields_are_stored_capped(crawl: Crawl) -> None:
    record = crawl.record("long_fields")
    assert record["title"].startswith("Council names every street again")
    assert len(record["title"]) <= limits.TITLE_CHARS and record["title"].endswith("…")
    assert len(record["description"]) <= limits.DESCRIPTION_CHARS
    assert 0 < len(record["tags"]) <= limits.MAX_TAGS
    assert len(record["text"]) > 1000  # the story itself is whole


def test_a_gzip_bomb_is_counted_over_the_size_limit_in_words(crawl: Crawl) -> None:
    assert HOSTILE_PATHS["gzip_bomb"] not in crawl.records
    assert "over the size limit 1" in crawl.stdout, crawl.stdout
    assert "DOWNLOAD_MAXSIZE" not in crawl.stdout + crawl.stderr


def test_the_well_behaved_articles_beside_them_are_all_stored(crawl: Crawl) -> None:
    for n in (1, 2, 3):
        assert synthetic_article(n).path in crawl.records
    assert parse_summary(crawl.stdout)["ledger"]["status"] == "ok"


def test_caps_keep_short_values_and_drop_overlong_urls() -> None:
    assert limits.cap_text("Short title", limits.TITLE_CHARS) == "Short title"
    capped = limits.cap_text("word " * 1000, 100)
    assert capped is not None and len(capped) <= 100 and capped.endswith("word…")
    assert limits.cap_url("https://example.org/" + "a" * 5000) is None
    assert limits.cap_url("https://example.org/a.jpg") == "https://example.org/a.jpg"
