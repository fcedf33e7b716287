"""End to end: `newsmill crawl` over the Daily Ledger into a real SQLite file.

Scrapy really fetches the fixture site on 127.0.0.1; what was stored is read back with
`newsmill export`. One crawl is shared by the module's read-only tests; tests that change
the site or the database crawl on their own.
"""

from __future__ import annotations

import json
import re
import subprocess
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import (
    blog_source,
    closed_port,
    describe,
    export_csv,
    export_records,
    ledger_source,
    parse_summary,
    run_newsmill,
    write_config,
)
from tests.site.server import BROKEN_PATHS, VIDEO_PATH, NewsSite, Request, synthetic_article

VOA_PATH = "/2024/03/05/north-korea-kim-open-to-talks-with-south.html"
VOA_TITLE = "North Korea's Kim Says Open to High-Level Talks With South"
VOA_FIRST_SENTENCE = (
    "North Korean leader Kim Jong Un said he is open to expanding 'dialogue and cooperation' "
    "with the country's rival, South Korea."
)
# Everything around the VOA-style story that is not the story: skip links, the banner,
# navigation, the print dialogue, caption, byline, share tools, related, footer.
VOA_BOILERPLATE = [
    "Accessibility links",
    "Skip to main content",
    "Skip to main Navigation",
    "Skip to Search",
    "Breaking News",
    "UN Security Council to meet in emergency session",
    "Print Options",
    "Embedded Content",
    "Link has been copied to clipboard",
    "South & Central Asia",
    "Science & Health",
    "Share on Facebook",
    "FILE - North Korean leader Kim Jong Un speaks",
    "Latest episodes",
    "Press Freedom Today",
    "Related",
    "Subscribe to our newsletters",
    "Follow Us",
    "is an independent international broadcaster",
    "Privacy Policy",
    VOA_TITLE,
    "William Gallo",
]
SYNDICATED_PATH = "/2024/03/05/central-bank-holds-rates-steady.html"
WIRE_PATH = "/wire/story/20240305.html"
TRUNCATED_PATH = "/2024/03/07/harbour-bridge-repairs-delayed.html"
WRONG_CHARSET_PATH = "/2024/03/08/zurich-cafes-fight-rising-rents.html"
NON_ARTICLES = ["/", "/section/world", "/section/business", "/section/science", "/about.html",
                "/contact.html", "/galleries/spring-lantern-festival.html"]
RECORD_FIELDS = {"id", "source", "url", "title", "authors", "published_at", "language",
                 "description", "image", "tags", "text", "first_seen_at", "fetched_at",
                 "content_hash"}
TRACKING = re.compile(r"utm_|fbclid|gclid|#")


def normalised(text: str) -> str:
    return " ".join(re.sub(r"[\W_]+", " ", text).casefold().split())


@dataclass
class Crawl:
    """One finished crawl of the whole site, and what it left behind."""

    site: NewsSite
    config: Path
    result: subprocess.CompletedProcess[str]
    requests: list[Request]  # the site's log right after the crawl, before later tests add to it
    records: list[dict[str, Any]]
    started: datetime

    def by_source(self, source: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r["source"] == source]

    def stored(self, path: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r["url"] == self.site.url_for(path)]


@pytest.fixture(scope="module")
def crawl(module_site: NewsSite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Crawl]:
    config = write_config(tmp_path_factory.mktemp("crawl"),
                          {"ledger": ledger_source(module_site),
                           "ledger-blog": blog_source(module_site)})
    started = datetime.now(UTC)
    result = run_newsmill("crawl", "--all", config=config)
    requests = module_site.requests
    records = export_records(config) if result.returncode == 0 else []
    yield Crawl(module_site, config, result, requests, records, started)


def ok(crawl: Crawl) -> Crawl:
    """The shared crawl, or a failure saying why it did not finish cleanly."""
    assert crawl.result.returncode == 0, describe(crawl.result)
    return crawl


# --- the run itself -------------------------------------------------------------------------


def test_crawl_exits_zero_despite_every_bad_input(crawl: Crawl) -> None:
    ok(crawl)
    # The crawl really met each bad input (not exit 0 because it never looked).
    met = {r.path for r in crawl.requests}
    for name, path in BROKEN_PATHS.items():
        assert path in met, f"the crawl never requested the {name} page {path}"


def test_summary_counts_skipped_pages_with_reasons_and_errors(crawl: Crawl) -> None:
    output = ok(crawl).result.stdout + crawl.result.stderr
    rows = parse_summary(crawl.result.stdout)
    ledger = rows["ledger"]
    assert int(ledger["new"]) >= len(crawl.site.main_articles()) - 2, output
    # Empty, binary, 404, 500, redirect loop, oversized, broken feed, broken sitemap and the
    # non-article pages: one count each, whether the product files them as skipped or errors.
    assert int(ledger["skipped"]) + int(ledger["errors"]) >= 8, output
    assert re.search(r"skipped\b.*\d", output), f"no per-reason skipped counts in:\n{output}"
    assert int(rows["ledger-blog"]["new"]) == 2, output


def test_no_request_ever_reaches_the_robots_disallowed_area(crawl: Crawl) -> None:
    paths = [r.path for r in ok(crawl).requests]
    assert "/robots.txt" in paths
    # The pages linking into /private/ were read, so staying out was a decision.
    assert "/" in paths and "/sitemap-pages.xml" in paths
    assert [p for p in paths if p.startswith("/private")] == []
    assert not [r for r in crawl.records if "/private/" in r["url"]]


def test_every_discovery_surface_is_read(crawl: Crawl) -> None:
    paths = {r.path for r in ok(crawl).requests}
    for surface in ["/feed.xml", "/atom.xml", "/robots.txt", "/sitemap_index.xml",
                    "/sitemap-news.xml", "/section/world", "/section/business",
                    "/section/science", "/blog/feed.xml"]:
        assert surface in paths, f"{surface} was never requested"


def test_each_article_is_downloaded_once_whatever_link_led_to_it(crawl: Crawl) -> None:
    gets = Counter(r.path for r in ok(crawl).requests if r.method == "GET")
    repeated = {a.path: gets[a.path] for a in crawl.site.articles if gets[a.path] > 1}
    assert repeated == {}, f"articles fetched more than once: {repeated}"
    # Every spelling the site uses carried a query or fragment; none reached the server.
    assert not [r.target for r in crawl.requests if TRACKING.search(r.target)]


# --- what was stored ------------------------------------------------------------------------


def test_exported_records_carry_the_contract_fields(crawl: Crawl) -> None:
    records = ok(crawl).records
    assert records
    for record in records:
        assert set(record) >= RECORD_FIELDS, sorted(RECORD_FIELDS - set(record))
        assert isinstance(record["authors"], list) and isinstance(record["tags"], list)


def test_every_article_is_stored_exactly_once(crawl: Crawl) -> None:
    records = ok(crawl).by_source("ledger")
    urls = Counter(r["url"] for r in records)
    titles = Counter(r["title"] for r in records)
    assert [u for u, n in urls.items() if n > 1] == []
    assert [t for t, n in titles.items() if n > 1] == [], "one story stored under two URLs"
    for article in crawl.site.main_articles():
        if article.path == TRUNCATED_PATH:
            continue  # may be stored or skipped, see its own test
        # A syndicated story may be kept under either of its URLs, but under one only.
        spellings = [article.path, *([article.syndicated_at] if article.syndicated_at else [])]
        times = sum(urls[crawl.site.url_for(p)] for p in spellings)
        assert times == 1, f"{article.path} stored {times} times"
        assert titles[article.title] == 1, article.title


def test_only_articles_are_stored(crawl: Crawl) -> None:
    site = ok(crawl).site
    allowed = {site.url_for(a.path) for a in site.articles} | {site.url_for(WIRE_PATH)}
    extra = sorted(r["url"] for r in crawl.records if r["url"] not in allowed)
    assert extra == [], f"pages that are not articles were stored: {extra}"
    for path in [*NON_ARTICLES, *BROKEN_PATHS.values()]:
        assert crawl.stored(path) == [], path


def test_a_listed_page_that_says_it_is_a_video_is_not_stored(crawl: Crawl) -> None:
    # The `articles` pattern for dated paths vouches for it; the page itself says it is a
    # video (og:type) and has two lines of text, which outweighs the pattern.
    assert VIDEO_PATH in {r.path for r in ok(crawl).requests}, "the video page was never fetched"
    assert crawl.stored(VIDEO_PATH) == []


def test_syndicated_copy_without_canonical_is_stored_once(crawl: Crawl) -> None:
    story = ok(crawl).site.article(SYNDICATED_PATH)
    first = normalised(story.first_sentence)
    copies = [r["url"] for r in crawl.records if first in normalised(r["text"])]
    assert len(copies) == 1, f"the wire copy and the original both stored: {copies}"


def test_stored_urls_are_canonical_without_tracking_or_fragments(crawl: Crawl) -> None:
    records = ok(crawl).records
    assert [r["url"] for r in records if TRACKING.search(r["url"])] == []
    assert [r["url"] for r in records if "/amp/" in r["url"]] == [], "AMP copy stored, not canonical"
    for record in records:
        assert record["url"].startswith(crawl.site.url + "/"), record["url"]


def test_stored_bodies_and_metadata_match_the_pages(crawl: Crawl) -> None:
    site = ok(crawl).site
    for article in site.articles:
        if article.path in (TRUNCATED_PATH, SYNDICATED_PATH):
            continue
        [record] = crawl.stored(article.path)
        assert record["title"] == article.title
        assert normalised(article.first_sentence) in normalised(record["text"])
        assert normalised(article.paragraphs[-1]) in normalised(record["text"])
        assert article.author in record["authors"], (article.path, record["authors"])
        assert (record["published_at"] or "").startswith(article.published.date().isoformat())
        assert article.title not in record["text"], f"headline inside the body of {article.path}"


def test_voa_seed_stores_headline_and_body_from_first_sentence(crawl: Crawl) -> None:
    [record] = ok(crawl).stored(VOA_PATH)
    assert record["title"] == VOA_TITLE
    assert record["text"].startswith(VOA_FIRST_SENTENCE), record["text"][:300]
    # The whole story, last paragraph included.
    assert record["text"].rstrip().endswith("ended without an agreement."), record["text"][-300:]
    assert record["authors"] == ["William Gallo"]
    assert record["published_at"].startswith("2024-03-05")


def test_voa_seed_body_holds_none_of_the_boilerplate(crawl: Crawl) -> None:
    [record] = ok(crawl).stored(VOA_PATH)
    found = [s for s in VOA_BOILERPLATE if s in record["text"]]
    assert found == [], f"boilerplate in the stored body: {found}"
    related_titles = [a.title for a in crawl.site.main_articles() if a.path != VOA_PATH]
    assert [t for t in related_titles if t in record["text"]] == []


def test_wrong_charset_declaration_is_stored_readable(crawl: Crawl) -> None:
    # The header says iso-8859-1, the bytes and the <meta> say UTF-8.
    [record] = ok(crawl).stored(WRONG_CHARSET_PATH)
    assert "Niederdorfstrasse and the Limmatquai" in record["text"]
    assert "René Fässler" in record["text"] and "Ã" not in record["text"], record["text"][:400]
    assert record["title"] == "Zürich's Old Cafés Fight Rising Rents"


def test_truncated_page_is_stored_with_what_it_has_or_skipped(crawl: Crawl) -> None:
    records = ok(crawl).stored(TRUNCATED_PATH)
    assert len(records) <= 1
    if records:
        text = records[0]["text"]
        article = crawl.site.article(TRUNCATED_PATH)
        assert normalised(article.first_sentence) in normalised(text)
        assert "<" not in text and "engineers found that the corrosion" not in text


def test_export_source_filter(crawl: Crawl) -> None:
    blog = {r["url"] for r in export_records(ok(crawl).config, "--source", "ledger-blog")}
    expected = {crawl.site.url_for(a.path) for a in crawl.site.articles if a.feed == "blog"}
    assert blog == expected
    ledger = export_records(crawl.config, "--source", "ledger")
    assert ledger and all(r["source"] == "ledger" for r in ledger)
    assert not blog & {r["url"] for r in ledger}
    assert len(ledger) + len(blog) == len(crawl.records)


def test_export_unknown_source_is_a_usage_error(crawl: Crawl) -> None:
    result = run_newsmill("export", "--source", "no-such-source", config=ok(crawl).config)
    assert result.returncode == 2, describe(result)
    assert "no-such-source" in result.stderr


def test_export_since_filters_by_first_seen(crawl: Crawl) -> None:
    config = ok(crawl).config
    before = (crawl.started - timedelta(minutes=1)).isoformat()
    after = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    assert len(export_records(config, "--since", before)) == len(crawl.records)
    assert export_records(config, "--since", after) == []


def test_export_csv_holds_the_same_articles(crawl: Crawl) -> None:
    rows = export_csv(ok(crawl).config)
    assert len(rows) == len(crawl.records)
    assert set(rows[0]) >= RECORD_FIELDS
    assert {r["url"] for r in rows} == {r["url"] for r in crawl.records}
    voa = next(r for r in rows if r["url"] == crawl.site.url_for(VOA_PATH))
    # Multi-line bodies survive the CSV round trip.
    assert voa["text"].startswith(VOA_FIRST_SENTENCE) and "\n" in voa["text"]


def test_export_to_stdout_is_jsonl(crawl: Crawl) -> None:
    result = run_newsmill("export", "--source", "ledger-blog", config=ok(crawl).config)
    assert result.returncode == 0, describe(result)
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 2 and all(r["source"] == "ledger-blog" for r in lines)


def test_second_crawl_stores_nothing_new(crawl: Crawl) -> None:
    again = run_newsmill("crawl", "--all", config=ok(crawl).config)
    assert again.returncode == 0, describe(again)
    rows = parse_summary(again.stdout)
    assert {name: row["new"] for name, row in rows.items()} == {"ledger": "0", "ledger-blog": "0"}
    after = export_records(crawl.config)
    assert [(r["id"], r["url"], r["content_hash"]) for r in after] == [
        (r["id"], r["url"], r["content_hash"]) for r in crawl.records]


# --- crawls of their own --------------------------------------------------------------------


def test_recrawl_stores_only_the_article_added_since(site: NewsSite, tmp_path: Path) -> None:
    config = write_config(tmp_path, {"ledger": ledger_source(site)})
    first = run_newsmill("crawl", "ledger", config=config)
    assert first.returncode == 0, describe(first)
    stored = export_records(config)
    between = datetime.now(UTC)
    fresh = synthetic_article(7, section="business",
                              published=datetime(2024, 3, 9, 8, 0, tzinfo=UTC))
    site.add_article(fresh)
    second = run_newsmill("crawl", "ledger", config=config)
    assert second.returncode == 0, describe(second)
    assert parse_summary(second.stdout)["ledger"]["new"] == "1", second.stdout
    after = export_records(config)
    assert len(after) == len(stored) + 1
    assert [r["url"] for r in export_records(config, "--since", between.isoformat())] == [
        site.url_for(fresh.path)]


def test_without_article_patterns_pages_are_judged_by_what_they_are(
    site: NewsSite, tmp_path: Path
) -> None:
    # Only listing pages to go on: every link is a candidate, the page itself must tell.
    config = write_config(tmp_path, {"judged": {
        "start_urls": [site.url_for("/")], "follow": ["/section/[a-z]+$"]}})
    result = run_newsmill("crawl", "judged", config=config)
    assert result.returncode == 0, describe(result)
    paths = set(site.requested_paths())
    assert "/about.html" in paths and "/galleries/spring-lantern-festival.html" in paths, (
        "the non-article pages linked from the home page were never looked at")
    stored = {r["url"] for r in export_records(config)}
    for article in site.main_articles():
        if article.path not in (TRUNCATED_PATH, SYNDICATED_PATH):
            assert site.url_for(article.path) in stored, article.path
    wrongly = sorted(u for u in stored
                     if u in {site.url_for(p) for p in [*NON_ARTICLES, *BROKEN_PATHS.values()]})
    assert wrongly == [], f"pages that are not articles were stored: {wrongly}"
    assert "not an article" in result.stdout + result.stderr, result.stdout


def test_unreachable_source_exits_1_and_stores_nothing(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{closed_port()}"
    config = write_config(tmp_path, {"gone": {
        "feeds": [dead + "/feed.xml"], "sitemaps": [dead + "/robots.txt"],
        "start_urls": [dead + "/"], "articles": [r"/\d{4}/\d{2}/\d{2}/"]}},
        crawl={"retries": 0, "timeout": 5})
    result = run_newsmill("crawl", "gone", config=config)
    assert result.returncode == 1, describe(result)
    output = result.stdout + result.stderr
    assert "gone" in output and re.search(r"refused|unreachable|connect", output, re.I), output
    assert export_records(config) == []


def test_a_one_off_crawl_of_a_hung_source_stops_at_its_max_runtime(tmp_path: Path) -> None:
    from tests.daemontools import Silent, runs

    silent = Silent()  # takes the connection, never answers: only max_runtime ends the crawl
    try:
        config = write_config(tmp_path, {"hung": {"feeds": [silent.url + "feed.xml"], "max_runtime": "2s"}},
                              crawl={"retries": 0, "timeout": 600, "obey_robots": False})
        result = run_newsmill("crawl", "hung", config=config)
    finally:
        silent.close()
    assert result.returncode == 1, describe(result)
    assert parse_summary(result.stdout)["hung"]["status"] == "timeout", result.stdout
    assert [r["status"] for r in runs(config, "hung")] == ["timeout"]


CONFIG_ERRORS: dict[str, tuple[dict[str, Any], str]] = {
    "unknown key": ({"feedz": ["/feed.xml"]}, "feedz"),
    "bad regex": ({"articles": ["/(\\d{4}/[unclosed"]}, "articles"),
    "bad schedule": ({"schedule": "every fortnight"}, "schedule"),
    "no seeds": ({"feeds": [], "sitemaps": [], "start_urls": []}, "feeds"),
    "crawl override": ({"crawl": {"per_domian": 2}}, "per_domian"),
}


@pytest.mark.parametrize("case", CONFIG_ERRORS, ids=list(CONFIG_ERRORS))
@pytest.mark.parametrize("command", [("crawl", "--all"), ("export",)], ids=["crawl", "export"])
def test_config_error_exits_2_naming_source_and_key(
    case: str, command: tuple[str, ...], site: NewsSite, tmp_path: Path
) -> None:
    broken, key = CONFIG_ERRORS[case]
    config = write_config(tmp_path, {"ledger": ledger_source(site),
                                     "bad-source": {**ledger_source(site), **broken}})
    result = run_newsmill(*command, config=config)
    assert result.returncode == 2, describe(result)
    message = result.stderr + result.stdout
    assert "bad-source" in message and key in message, message
    assert "Traceback" not in message
    # Refused before anything ran: no request, no database.
    assert site.requests == []
    assert not (tmp_path / "news.db").exists()


def test_unknown_top_level_key_exits_2(site: NewsSite, tmp_path: Path) -> None:
    config = write_config(tmp_path, {"ledger": ledger_source(site)}, extra={"sourcez": {}})
    result = run_newsmill("crawl", "--all", config=config)
    assert result.returncode == 2, describe(result)
    assert "sourcez" in result.stderr + result.stdout


# --- newsmill extract -----------------------------------------------------------------------


def _check_voa_json(output: str) -> None:
    record = json.loads(output)
    assert record["title"] == VOA_TITLE
    assert record["text"].startswith(VOA_FIRST_SENTENCE)
    assert [s for s in VOA_BOILERPLATE if s in record["text"]] == []


def test_extract_file_prints_json_with_title_and_text(
    site: NewsSite, make_config: Callable[..., Path], tmp_path: Path
) -> None:
    page = tmp_path / "voa.html"
    with urllib.request.urlopen(site.url_for(VOA_PATH)) as response:
        page.write_bytes(response.read())
    result = run_newsmill("extract", str(page), config=make_config({"ledger": ledger_source(site)}))
    assert result.returncode == 0, describe(result)
    _check_voa_json(result.stdout)


def test_extract_url_prints_json_with_title_and_text(
    site: NewsSite, make_config: Callable[..., Path]
) -> None:
    config = make_config({"ledger": ledger_source(site)})
    result = run_newsmill("extract", site.url_for(VOA_PATH), config=config)
    assert result.returncode == 0, describe(result)
    _check_voa_json(result.stdout)
    assert VOA_PATH in site.requested_paths()


# --- the fixture site itself (so an end-to-end failure is never the fixture's) ----------------


def _get(site: NewsSite, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(site.url_for(path), headers=headers or {})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_site_feeds_and_sitemaps_are_well_formed_and_point_home(site: NewsSite) -> None:
    for path in ["/feed.xml", "/atom.xml", "/blog/feed.xml", "/sitemap_index.xml",
                 "/sitemap-news.xml", "/sitemap-pages.xml"]:
        status, body = _get(site, path)
        assert status == 200
        root = ET.fromstring(body)
        links = [e.text or e.get("href") or "" for e in root.iter()
                 if e.tag.rsplit("}", 1)[-1] in ("link", "loc")]
        assert links and all(link.startswith(site.url + "/") for link in links), (path, links)
    for path in ["/", "/section/world", VOA_PATH, WIRE_PATH, "/about.html", "/robots.txt"]:
        status, body = _get(site, path)
        assert status == 200 and b"{{" not in body, path
    assert f"Sitemap: {site.url}/sitemap_index.xml" in _get(site, "/robots.txt")[1].decode()
    wire = _get(site, WIRE_PATH)[1].decode()
    assert 'rel="canonical"' not in wire and site.article(SYNDICATED_PATH).paragraphs[1] in wire


def test_site_follows_runtime_changes_and_answers_conditional_gets(site: NewsSite) -> None:
    fresh = synthetic_article(3, section="science")
    site.add_article(fresh)
    assert fresh.path.encode() in _get(site, "/feed.xml")[1]
    assert fresh.path.encode() in _get(site, "/sitemap-news.xml")[1]
    assert fresh.path.encode() in _get(site, "/section/science")[1]
    site.update_article(fresh.path, title="A Corrected Headline")
    assert b"A Corrected Headline" in _get(site, fresh.path)[1]
    site.remove(fresh.path)
    assert _get(site, fresh.path)[0] == 404
    assert fresh.path.encode() not in _get(site, "/atom.xml")[1]
    site.clear_log()
    with urllib.request.urlopen(site.url_for(VOA_PATH)) as response:
        etag = response.headers["ETag"]
    assert _get(site, VOA_PATH, {"If-None-Match": etag})[0] == 304
    assert [(r.method, r.status, r.headers.get("if-none-match")) for r in site.requests] == [
        ("GET", 200, None), ("GET", 304, etag)]
    site.add_page("/2024/03/09/gone.html", "", status=410)
    assert _get(site, "/2024/03/09/gone.html")[0] == 410
