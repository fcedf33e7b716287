"""Re-crawls cost only what is new; near-duplicate stories are stored once; corrections are
kept as revisions. Real crawls of the fixture site, changed between runs, through the CLI."""

from __future__ import annotations

import json
import random
import socket
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import describe, export_records, parse_summary, run_newsmill
from tests.site.server import Article, NewsSite, synthetic_article

FEED_ONLY = r"/\d{4}/\d{2}/\d{2}/[^/]+\.html$"


@pytest.fixture
def bare_site() -> Iterator[NewsSite]:
    """The Daily Ledger with no fixture pages: each test puts up exactly the stories it needs."""
    with NewsSite(fixtures=False) as running:
        yield running


def recent(n: int, hours_ago: float = 1) -> Article:
    return synthetic_article(n, published=datetime.now(UTC) - timedelta(hours=hours_ago, minutes=n))


def feed_source(site: NewsSite, **overrides: Any) -> dict[str, Any]:
    return {"feeds": [site.url_for("/feed.xml")], "articles": [FEED_ONLY], **overrides}


def crawl(config: Path, *sources: str) -> dict[str, dict[str, str]]:
    result = run_newsmill("crawl", "-q", *(sources or ("--all",)), config=config)
    assert result.returncode == 0, describe(result)
    return parse_summary(result.stdout)


def article_requests(site: NewsSite, paths: set[str]) -> list[str]:
    return [r.path for r in site.requests if r.path in paths]


def test_second_run_downloads_no_stored_article(
    site: NewsSite, make_config: Callable[..., Path]
) -> None:
    from tests.conftest import ledger_source

    config = make_config({"ledger": ledger_source(site)})
    crawl(config)
    stored = {r["url"].removeprefix(site.url) for r in export_records(config, "--with-duplicates")}
    assert len(stored) >= 5, stored
    site.clear_log()
    summary = crawl(config)
    assert article_requests(site, stored) == []
    assert summary["ledger"]["new"] == "0"
    assert site.hits("/feed.xml") == 1  # discovery pages are still read


def test_unchanged_feed_answers_304_on_the_second_run(
    bare_site: NewsSite, make_config: Callable[..., Path]
) -> None:
    for n in range(1, 4):
        bare_site.add_article(recent(n))
    config = make_config({"ledger": feed_source(bare_site)})
    crawl(config)
    bare_site.clear_log()
    result = run_newsmill("crawl", "ledger", config=config)
    assert result.returncode == 0, describe(result)
    feed = [r for r in bare_site.requests if r.path == "/feed.xml"]
    assert [r.status for r in feed] == [304]
    assert feed[0].headers.get("if-none-match")
    assert "not modified 1" in result.stdout
    assert [r.path for r in bare_site.requests if r.path != "/robots.txt"] == ["/feed.xml"]


def test_changed_feed_is_read_in_full_and_only_its_new_article_fetched(
    bare_site: NewsSite, make_config: Callable[..., Path]
) -> None:
    for n in range(1, 4):
        bare_site.add_article(recent(n))
    config = make_config({"ledger": feed_source(bare_site)})
    crawl(config)
    bare_site.clear_log()
    fresh = recent(4, hours_ago=0.1)
    bare_site.add_article(fresh)
    summary = crawl(config)
    assert summary["ledger"]["new"] == "1"
    assert [(r.path, r.status) for r in bare_site.requests if r.path != "/robots.txt"] == [
        ("/feed.xml", 200),
        (fresh.path, 200),
    ]


def test_max_age_skips_old_entries_without_requests(
    bare_site: NewsSite, make_config: Callable[..., Path]
) -> None:
    young = [recent(n) for n in range(1, 4)]
    old = [synthetic_article(n, published=datetime.now(UTC) - timedelta(days=10 + n)) for n in range(10, 14)]
    for article in young + old:
        bare_site.add_article(article)
    # The news sitemap states publication dates too: both discovery paths obey max_age.
    source = feed_source(bare_site, sitemaps=[bare_site.url_for("/sitemap-news.xml")], max_age="3d")
    config = make_config({"ledger": source})
    summary = crawl(config)
    assert summary["ledger"]["new"] == "3"
    assert article_requests(bare_site, {a.path for a in old}) == []
    stored = {r["url"].removeprefix(bare_site.url) for r in export_records(config)}
    assert stored == {a.path for a in young}


def test_corrected_article_yields_revision_2_counted_in_the_summary_and_run_record_and_diffed_in_history(
    bare_site: NewsSite, make_config: Callable[..., Path]
) -> None:
    stories = [recent(n) for n in range(1, 5)]
    for article in stories:
        bare_site.add_article(article)
    config = make_config({"ledger": feed_source(bare_site, recheck="1d")})
    crawl(config)
    corrected = stories[1]
    correction = "Correction: an earlier version of this story misstated the number of vessels affected."
    bare_site.update_article(corrected.path, paragraphs=(*corrected.paragraphs, correction))
    bare_site.clear_log()
    second = run_newsmill("crawl", "-q", "--all", config=config)
    assert second.returncode == 0, describe(second)
    assert "ledger: revised 1 (" in second.stdout, second.stdout
    runs = run_newsmill("runs", "--json", config=config)
    assert runs.returncode == 0, describe(runs)
    assert [r["revised"] for r in json.loads(runs.stdout)] == [1, 0]  # newest first
    # Each names the process that ran its crawl, one `newsmill crawl` each.
    workers = [r["worker"] for r in json.loads(runs.stdout)]
    assert len(set(workers)) == 2 and all(w.startswith(f"{socket.gethostname()}:") for w in workers)

    # The recheck asked "changed since?": the corrected story came in full, the rest answered 304.
    rechecks = {r.path: r for r in bare_site.requests if r.path in {a.path for a in stories}}
    assert set(rechecks) == {a.path for a in stories}
    assert all(r.headers.get("if-none-match") for r in rechecks.values())
    assert {p: r.status for p, r in rechecks.items()} == {
        a.path: 200 if a is corrected else 304 for a in stories
    }

    records = {r["url"].removeprefix(bare_site.url): r for r in export_records(config)}
    assert len(records) == len(stories)
    fixed = records[corrected.path]
    assert fixed["revision"] == 2
    assert correction in fixed["text"]
    assert fixed["updated_at"] is not None
    assert all(records[a.path]["revision"] == 1 for a in stories if a is not corrected)

    shown = run_newsmill("history", bare_site.url_for(corrected.path), config=config)
    assert shown.returncode == 0, describe(shown)
    assert "revision 1" in shown.stdout and "revision 2" in shown.stdout
    assert f"+{correction}" in shown.stdout.splitlines()


def test_history_of_an_unknown_url_exits_1(bare_site: NewsSite, make_config: Callable[..., Path]) -> None:
    config = make_config({"ledger": feed_source(bare_site)})
    result = run_newsmill("history", bare_site.url_for("/2024/01/01/never.html"), config=config)
    assert result.returncode == 1
    assert "no stored article" in result.stderr


def rewrite(article: Article, seed: int) -> tuple[str, ...]:
    """A partner's rewrite: two words swapped in each paragraph, a sentence added."""
    rng = random.Random(seed)
    paragraphs = []
    for paragraph in article.paragraphs:
        words = paragraph.split()
        for _ in range(2):
            words[rng.randrange(len(words))] = rng.choice(["reportedly", "officials", "locally"])
        paragraphs.append(" ".join(words))
    paragraphs.insert(2, "Partner desk: the figures remain provisional, regional officials cautioned.")
    return tuple(paragraphs)


def wire_feed(site: NewsSite, paths: list[str]) -> str:
    items = "".join(f"<item><title>Wire {i}</title><link>{site.url}{p}</link></item>"
                    for i, p in enumerate(paths))
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>{items}</channel></rss>'


def test_near_duplicate_rewrites_are_stored_once_and_distinct_stories_in_one_template_all_stored(
    bare_site: NewsSite, make_config: Callable[..., Path]
) -> None:
    originals = [recent(n) for n in range(1, 6)]
    for article in originals:
        bare_site.add_article(article)
    # The partner runs five rewrites and five stories of its own, all in its wire template.
    partner: dict[str, Article] = {}
    for i, article in enumerate(originals):
        partner[f"/wire/story/{100 + i}.html"] = replace(article, paragraphs=rewrite(article, i),
                                                          title=article.title + " (wire)")
    for i in range(5):
        partner[f"/wire/story/{200 + i}.html"] = recent(50 + i)
    for path, story in partner.items():
        bare_site.add_page(path, bare_site.render_article(replace(story, path=path), template="wire",
                                                          canonical=False))
    bare_site.add_page("/wire/feed.xml", wire_feed(bare_site, list(partner)),
                       content_type="application/rss+xml")
    config = make_config({
        "ledger": feed_source(bare_site),
        "partner": {"feeds": [bare_site.url_for("/wire/feed.xml")], "articles": [r"/wire/story/\d+\.html$"]},
    })
    assert crawl(config, "ledger")["ledger"]["new"] == "5"
    summary = crawl(config, "partner")
    assert summary["partner"]["new"] == "5"
    assert summary["partner"]["duplicates"] == "5"

    records = export_records(config)
    assert len(records) == 10
    by_url = {r["url"].removeprefix(bare_site.url): r for r in records}
    for i, article in enumerate(originals):
        stored = by_url[article.path]
        assert stored["urls"] == [bare_site.url_for(f"/wire/story/{100 + i}.html")]
        # The first telling's text is kept; the rewrite's is not stored again.
        assert article.paragraphs[0] in stored["text"]
        assert "Partner desk" not in stored["text"]
    assert {f"/wire/story/{200 + i}.html" for i in range(5)} <= set(by_url)

    every = export_records(config, "--with-duplicates")
    assert len(every) == 15
    assert {r["url"].removeprefix(bare_site.url) for r in every} == {a.path for a in originals} | set(partner)
