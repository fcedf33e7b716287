"""The web view and its JSON API, served for real on a local port over what a real crawl stored,
on SQLite and PostgreSQL: search, one article as exported, sources, runs; bad parameters are a
400 with a message; markup in titles and texts shows as text; nothing is fetched from
elsewhere; beyond the loopback address a token is required."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest

from crawler.commands.serve import is_loopback
from tests.conftest import ROOT, cli_env, closed_port, describe, export_records, run_newsmill
from tests.crawled import HOSTILE_TITLE, Crawled, crawled
from tests.databases import sqlite_url
from tests.site.server import NewsSite, synthetic_article
from tests.webserver import serving
from web.app import WebSettings, create_app

__all__ = ["crawled", "sqlite_url"]

TOKEN = "a-test-token-0123456789"


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Message
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def json(self) -> Any:
        return json.loads(self.body)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def get(url: str, **headers: str) -> Reply:
    request = urllib.request.Request(url, headers=headers)
    try:
        with _opener.open(request, timeout=30) as response:
            return Reply(response.status, response.headers, response.read())
    except urllib.error.HTTPError as error:
        return Reply(error.code, error.headers, error.read())


@dataclass(frozen=True)
class Served:
    url: str
    crawled: Crawled
    records: list[dict[str, Any]]

    def get(self, path: str, **headers: str) -> Reply:
        return get(self.url + path, **headers)


@pytest.fixture(scope="module")
def served(crawled: Crawled) -> Iterator[Served]:
    schedules = {"ledger": "every 15m", "ledger-blog": "every 2h"}
    app = create_app(WebSettings(database=crawled.database, schedules=schedules))
    with serving(app) as url:
        yield Served(url, crawled, export_records(crawled.config))


# -- the JSON API ---------------------------------------------------------------------------------


def test_api_search_finds_an_article_by_its_words_with_a_marked_snippet(served: Served) -> None:
    reply = served.get("/api/articles?q=torrential")
    assert reply.status == 200
    assert reply.headers["content-type"] == "application/json"
    (article,) = reply.json()["articles"]
    assert article["title"] == "Floods Displace Thousands as River Delta Braces for More Rain"
    assert {"id", "source", "url", "title", "published_at", "snippet"} <= set(article)
    assert "<mark>torrential</mark>" in article["snippet"]
    assert reply.json()["next"] is None


def test_api_pages_through_all_results_with_the_next_cursor(served: Served) -> None:
    for query in ("q=the&", ""):  # searched, and the latest articles
        seen: list[int] = []
        cursor = ""
        while True:
            page = served.get(f"/api/articles?{query}limit=4{cursor}").json()
            seen.extend(a["id"] for a in page["articles"])
            if page["next"] is None:
                break
            cursor = f"&cursor={quote(page['next'])}"
        expected = {r["id"] for r in served.records}
        if query:
            expected = {
                r["id"]
                for r in served.records
                if re.search(r"\bthe\b", r["text"] + " " + (r["title"] or ""), re.I)
            }
        assert sorted(seen) == sorted(expected), query
        assert len(seen) == len(set(seen))


def test_api_filters_by_source_and_date(served: Served) -> None:
    blog = served.get("/api/articles?source=ledger-blog&limit=100").json()["articles"]
    assert {a["id"] for a in blog} == {r["id"] for r in served.records if r["source"] == "ledger-blog"}
    early = served.get("/api/articles?until=2024-03-04&limit=100").json()["articles"]
    assert early and all((a["published_at"] or a["first_seen_at"]) < "2024-03-05" for a in early)


def test_api_article_is_the_exported_record(served: Served) -> None:
    for record in served.records[:5]:
        reply = served.get(f"/api/articles/{record['id']}")
        assert reply.status == 200
        assert reply.json() == record


def test_api_sources_and_runs(served: Served) -> None:
    sources = {s["name"]: s for s in served.get("/api/sources").json()["sources"]}
    assert set(sources) == {"ledger", "ledger-blog"}
    for name, source in sources.items():
        assert source["articles"] == sum(1 for r in served.records if r["source"] == name)
        assert source["last_run"]["status"] == "ok"
        assert source["schedule"]
        # One good run: too little history to doubt it (common.health), so ok.
        assert source["health"]["status"] == "ok", source["health"]
    runs = served.get("/api/runs").json()["runs"]
    assert {r["source"] for r in runs} == {"ledger", "ledger-blog"}
    assert served.get("/api/runs?source=ledger&limit=1").json()["runs"][0]["source"] == "ledger"


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/api/articles?limit=0", 400, "limit"),
        ("/api/articles?limit=1000", 400, "limit"),
        ("/api/articles?limit=ten", 400, "limit"),
        ("/api/articles?since=last%20week", 400, "since: 'last week' is not a date"),
        ("/api/articles?since=2024-03-05&until=2024-03-01", 400, "until: must be after since"),
        ("/api/articles?q=%22central%20bank", 400, "quote is not closed"),
        ("/api/articles?q=-sport", 400, "needs a word to look for"),
        ("/api/articles?q=OR", 400, "OR needs a word"),
        ("/api/articles?cursor=not-a-cursor", 400, "cursor"),
        ("/api/articles?source=nowhere", 400, "no source is named 'nowhere'"),
        ("/api/articles/0", 400, "article_id"),
        ("/api/articles/abc", 400, "article_id"),
        ("/api/articles/999999", 404, "no article has the id 999999"),
        ("/api/runs?limit=-1", 400, "limit"),
        ("/api/runs?source=nowhere", 400, "nowhere"),
    ],
)
def test_api_refuses_bad_parameters_with_a_message(
    served: Served, path: str, status: int, message: str
) -> None:
    reply = served.get(path)
    assert reply.status == status, reply.text
    assert message in reply.json()["error"]


def test_api_is_described_by_openapi(served: Served) -> None:
    document = served.get("/api/openapi.json").json()
    assert {"/api/articles", "/api/articles/{article_id}", "/api/sources", "/api/runs"} <= set(
        document["paths"]
    )
    names = {p["name"] for p in document["paths"]["/api/articles"]["get"]["parameters"]}
    assert names == {"q", "source", "language", "since", "until", "limit", "cursor"}
    page = served.get("/api")
    assert page.status == 200 and "/api/articles/{article_id}" in page.text


# -- the pages ------------------------------------------------------------------------------------


def test_search_page_shows_matches_with_marks_and_a_count(served: Served) -> None:
    page = served.get("/?q=torrential")
    assert page.status == 200
    assert "1 article match" in page.text
    assert "<mark>torrential</mark>" in page.text
    assert "Floods Displace Thousands" in page.text


def test_search_page_explains_a_bad_query_instead_of_failing(served: Served) -> None:
    page = served.get("/?q=" + quote('"unclosed'))
    assert page.status == 400
    assert "quote is not closed" in page.text
    assert "Traceback" not in page.text


def test_markup_in_titles_and_text_shows_as_text(served: Served) -> None:
    (hostile,) = [r for r in served.records if r["title"] == HOSTILE_TITLE]
    for path in (f"/articles/{hostile['id']}", "/?q=tide", "/", f"/?q={quote('harbourmasters')}"):
        page = served.get(path).text
        assert "<script>document.title" not in page, path
        assert "<b>bold</b>" not in page and "<img src=x" not in page, path
        assert "&lt;script&gt;document.title=" in page, path
    api = served.get(f"/api/articles?q={quote('harbourmasters')}").json()["articles"][0]
    # Escaped on SQLite; PostgreSQL's ts_headline leaves tag-like text out of snippets altogether.
    assert "<img" not in api["snippet"] and "<mark>Harbourmasters</mark>" in api["snippet"]


def test_article_page_shows_metadata_text_and_other_urls(served: Served) -> None:
    with_alias = next(r for r in served.records if r["urls"])
    page = served.get(f"/articles/{with_alias['id']}").text
    assert with_alias["url"] in page and all(url in page for url in with_alias["urls"])
    first_paragraph = with_alias["text"].split("\n")[0]
    assert first_paragraph.replace("'", "&#39;") in page


def test_sources_page_lists_each_source_with_a_chart_and_its_runs(served: Served) -> None:
    page = served.get("/sources").text
    for name in ("ledger", "ledger-blog"):
        assert f'href="/sources/{name}"' in page
    assert page.count('<span class="health ok">ok</span>') == 2
    assert page.count("<svg") >= 2
    detail = served.get("/sources/ledger").text
    assert 'id="per-day"' in detail and 'id="fill"' in detail and 'id="runs-chart"' in detail
    assert served.get("/sources/nowhere").status == 404


def test_runs_page_lists_the_runs_and_the_worker_that_ran_each(served: Served) -> None:
    page = served.get("/runs").text
    assert page.count('<span class="status ok">ok</span>') >= 2
    workers = {run["worker"] for run in served.get("/api/runs").json()["runs"]}
    assert workers and all(workers), workers  # host:pid of the crawl that ran it
    assert all(f"<td>{worker}</td>" in page for worker in workers), page


def test_every_asset_comes_from_the_app_and_no_script_runs(served: Served) -> None:
    for path in (
        "/",
        "/?q=bank",
        "/sources",
        "/sources/ledger",
        "/runs",
        "/api",
        f"/articles/{served.records[0]['id']}",
    ):
        reply = served.get(path)
        assert reply.status == 200, path
        assets = re.findall(r'<(?:link|script|img|iframe)\b[^>]*(?:src|href)="([^"]+)"', reply.text)
        assert assets and all(a.startswith("/static/") for a in assets), (path, assets)
        assert "<script" not in reply.text, path
        assert "script-src 'none'" in reply.headers["content-security-policy"]
    assert served.get("/static/style.css").status == 200


# -- the token ------------------------------------------------------------------------------------


def test_a_token_is_required_when_one_is_set(crawled: Crawled) -> None:
    app = create_app(WebSettings(database=crawled.database, token=TOKEN))
    with serving(app) as url:
        assert get(url + "/api/sources").status == 401
        assert get(url + "/").status == 401
        assert get(url + "/api/sources", Authorization="Bearer wrong-token-0123456789").status == 401
        assert get(url + "/api/sources", Authorization=f"Bearer {TOKEN}").status == 200
        # A browser brings it once in the URL, then in a cookie; the URL loses it.
        first = get(url + f"/?q=bank&token={TOKEN}")
        assert first.status == 303 and first.headers["location"] == "/?q=bank"
        cookie = first.headers["set-cookie"].split(";")[0]
        assert "HttpOnly" in first.headers["set-cookie"]
        assert get(url + "/?q=bank", Cookie=cookie).status == 200


def test_serve_refuses_a_public_address_without_a_token(crawled: Crawled) -> None:
    result = run_newsmill("serve", "--host", "0.0.0.0", config=crawled.config, timeout=60)
    assert result.returncode == 2, describe(result)
    assert "needs a token" in result.stderr
    short = run_newsmill("serve", "--host", "0.0.0.0", "--token", "short", config=crawled.config, timeout=60)
    assert short.returncode == 2 and "at least 16 characters" in short.stderr
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5") and not is_loopback("example.org")


def test_newsmill_serve_answers_on_its_port(crawled: Crawled) -> None:
    port = closed_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "crawler.cli", "--config", str(crawled.config), "serve", "--port", str(port)],
        cwd=ROOT,
        env=cli_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        reply = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                reply = get(f"http://127.0.0.1:{port}/api/sources")
                break
            except OSError:  # not listening yet
                time.sleep(0.1)
        if reply is None:
            process.terminate()
            pytest.fail(f"newsmill serve did not answer: {process.communicate(timeout=30)[1]}")
        assert reply.status == 200
        assert {s["name"] for s in reply.json()["sources"]} == {"ledger", "ledger-blog"}
        search = get(f"http://127.0.0.1:{port}/?{urlencode({'q': 'torrential'})}")
        assert "Floods Displace Thousands" in search.text
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_article_page_shows_its_revisions_with_a_diff(
    sqlite_url: str, make_config: Callable[..., Path]
) -> None:
    with NewsSite(fixtures=False) as site:
        story = synthetic_article(1, published=datetime.now(UTC) - timedelta(hours=1))
        site.add_article(story)
        config = make_config({"ledger": {"feeds": [site.url_for("/feed.xml")], "recheck": "1d"}},
                             database=sqlite_url)
        first = run_newsmill("crawl", "-q", "--all", config=config)
        assert first.returncode == 0, describe(first)
        correction = "Correction: the district was misnamed in an earlier version."
        site.update_article(story.path, paragraphs=(*story.paragraphs, correction))
        second = run_newsmill("crawl", "-q", "--all", config=config)
        assert second.returncode == 0 and "revised 1" in second.stdout, describe(second)
    with serving(create_app(WebSettings(database=sqlite_url))) as url:
        (article,) = get(url + "/api/articles").json()["articles"]
        page = get(url + f"/articles/{article['id']}").text
    assert 'id="revisions"' in page and "revision 1 → 2" in page
    assert f'<span class="add">+{correction}</span>' in page
