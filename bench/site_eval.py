"""The whole product against a news site built from real pages: what is stored, and how well.

Serves the dev set's real news pages on 127.0.0.1 as one site: an RSS feed (links with
tracking parameters and fragments), robots.txt naming a sitemap index with a Google News
sitemap and a plain one, section pages, a disallowed /private/ area, wire copies of some
stories in another template (no canonical link), and broken pages (404, 500, empty, binary,
a redirect loop, an oversized page). Crawls it with `newsmill crawl`, exports, and prints:

- how many stories were stored, against how many exist, and any stored twice;
- whether anything under /private/ was requested;
- the shingle precision / recall / F1 of the stored text against the hand-made ground truth,
  beside trafilatura's defaults on the same pages.

    .venv/bin/python bench/site_eval.py [DATASET]
"""

from __future__ import annotations

import argparse
import contextlib
import html
import json
import re
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import trafilatura

sys.path.insert(0, str(Path(__file__).resolve().parent))
from evalsets import Page, load_pages
from scoring import score_page, summarize

ROOT = Path(__file__).resolve().parent.parent
WIRE_EVERY = 8  # every 8th story also runs as a wire copy
WIRE_TEMPLATE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>{title} | Wire Desk</title></head><body>
<a href="#main">Skip to main content</a><nav><a href="/">Home</a> <a href="/section/world">World</a></nav>
<div class="banner">Breaking News: markets open higher</div>
<main id="main"><h1>{title}</h1><p class="byline">From wire reports</p>
{paragraphs}
</main><aside><h2>Related stories</h2><ul><li><a href="/">More from the wire</a></li></ul></aside>
<footer>&copy; 2024 Wire Desk. All rights reserved. <a href="/about">About us</a></footer></body></html>"""


@dataclass(slots=True)
class Story:
    page: Page
    path: str
    wire_path: str | None


class NewsSite:
    def __init__(self, pages: list[Page]) -> None:
        self.stories = [
            Story(
                p,
                f"/2024/03/{i % 28 + 1:02d}/{p.key.lower()}.html",
                f"/wire/{i}.html" if i % WIRE_EVERY == 3 else None,
            )
            for i, p in enumerate(pages)
        ]
        self.by_path = {s.path: s for s in self.stories}
        self.wire = {s.wire_path: s for s in self.stories if s.wire_path}
        self.requested: list[str] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_port}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                site.requested.append(self.path)
                status, kind, body, headers = site.route(self.path.split("#")[0])
                self.send_response(status)
                self.send_header("Content-Type", kind)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                # The crawler hangs up on the oversized page, as it should.
                with contextlib.suppress(ConnectionError):
                    self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        return Handler

    def route(self, target: str) -> tuple[int, str, bytes, dict[str, str]]:
        path = target.split("?")[0]
        html_type = "text/html; charset=utf-8"
        if path in self.by_path:
            return 200, html_type, self.by_path[path].page.html.encode(), {}
        if path in self.wire:
            story = self.wire[path]
            paragraphs = "\n".join(f"<p>{html.escape(p.strip('[]'))}</p>" for p in story.page.body)
            title = html.escape(story.page.key.replace("_", " "))
            return 200, html_type, WIRE_TEMPLATE.format(title=title, paragraphs=paragraphs).encode(), {}
        if path == "/robots.txt":
            text = f"User-agent: *\nDisallow: /private/\nSitemap: {self.base}/sitemap-index.xml\n"
            return 200, "text/plain", text.encode(), {}
        if path == "/sitemap-index.xml":
            maps = "".join(
                f"<sitemap><loc>{self.base}/{n}</loc></sitemap>"
                for n in ("sitemap-news.xml", "sitemap-2024.xml", "sitemap-broken.xml")
            )
            return 200, "application/xml", _xml("sitemapindex", maps), {}
        if path in ("/sitemap-news.xml", "/sitemap-2024.xml"):
            half = self.stories[::2] if path == "/sitemap-news.xml" else self.stories[1::2]
            urls = "".join(
                f"<url><loc>{self.base}{s.path}</loc><news:news><news:publication><news:name>Site"
                f"</news:name><news:language>en</news:language></news:publication>"
                f"<news:publication_date>2024-03-0{i % 9 + 1}T08:00:00Z</news:publication_date>"
                f"<news:title>{s.page.key}</news:title></news:news></url>"
                for i, s in enumerate(half)
            )
            return 200, "application/xml", _xml("urlset", urls), {}
        if path == "/sitemap-broken.xml":
            return 200, "application/xml", b"<html><body>this is not a sitemap</body></html>", {}
        if path == "/feed.xml":
            items = "".join(
                f"<item><title>{s.page.key}</title><link>{self.base}{s.path}?utm_source=rss&amp;"
                f"utm_medium=feed#comments</link><pubDate>Tue, 05 Mar 2024 10:00:00 GMT</pubDate></item>"
                for s in self.stories[:40]
            )
            feed = f'<?xml version="1.0"?><rss version="2.0"><channel><title>S</title>{items}</channel></rss>'
            return 200, "application/rss+xml", feed.encode(), {}
        if path == "/":
            links = [
                f'<a href="/section/{p}">{p}</a>' for p in sorted({s.page.publisher for s in self.stories})
            ]
            links += [f'<a href="{s.path}?fbclid=abc{i}">x</a>' for i, s in enumerate(self.stories[30:60])]
            links += [f'<a href="{s.wire_path}">wire</a>' for s in self.stories if s.wire_path]
            links += [
                '<a href="/private/2024/03/01/secret.html">private</a>',
                '<a href="/2024/03/01/gone.html">gone</a>',
                '<a href="/2024/03/01/error.html">err</a>',
                '<a href="/2024/03/01/empty.html">e</a>',
                '<a href="/2024/03/01/binary.html">b</a>',
                '<a href="/2024/03/01/loop.html">l</a>',
                '<a href="/2024/03/01/huge.html">h</a>',
            ]
            return 200, html_type, f"<html><body><nav>{' '.join(links)}</nav></body></html>".encode(), {}
        if path.startswith("/section/"):
            publisher = path.rsplit("/", 1)[1]
            links = "".join(
                f'<li><a href="{s.path}#top">{s.page.key}</a></li>'
                for s in self.stories
                if s.page.publisher == publisher
            )
            return 200, html_type, f"<html><body><ul>{links}</ul></body></html>".encode(), {}
        if path == "/2024/03/01/error.html":
            return 500, "text/plain", b"internal error", {}
        if path == "/2024/03/01/empty.html":
            return 200, html_type, b"", {}
        if path == "/2024/03/01/binary.html":
            return 200, html_type, bytes(range(256)) * 64, {}
        if path == "/2024/03/01/loop.html":
            return 302, "text/plain", b"", {"Location": "/2024/03/01/loop2.html"}
        if path == "/2024/03/01/loop2.html":
            return 302, "text/plain", b"", {"Location": "/2024/03/01/loop.html"}
        if path == "/2024/03/01/huge.html":
            return 200, html_type, b"<html><body>" + b"<p>padding text</p>" * 400_000 + b"</body></html>", {}
        return 404, "text/plain", b"not found", {}

    def __enter__(self) -> NewsSite:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()


def _xml(root: str, inner: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><{root} xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
        f'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">{inner}</{root}>'
    ).encode()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", nargs="?", type=Path, default=ROOT.parent / "shared/datasets/fundus-eval")
    args = parser.parse_args()
    pages = load_pages(args.dataset)
    with NewsSite(pages) as site, tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "config.yaml"
        config.write_text(
            f"database: sqlite:///{tmp}/site.db\n"
            "crawl: {concurrency: 16, per_domain: 8, max_page_size: 2000000}\n"
            "sources:\n  site:\n"
            f"    feeds: ['{site.base}/feed.xml']\n"
            f"    sitemaps: ['{site.base}/robots.txt']\n"
            f"    start_urls: ['{site.base}/']\n"
            "    follow: ['/section/[A-Za-z]+$']\n"
            "    articles: ['/\\d{4}/\\d{2}/\\d{2}/[^/]+\\.html$', '/wire/\\d+\\.html$']\n"
        )
        cli = [sys.executable, "-m", "crawler.cli", "--config", str(config)]
        crawl = subprocess.run([*cli, "crawl", "site", "-q"], cwd=ROOT, capture_output=True, text=True)
        print(crawl.stdout.strip())
        out = Path(tmp) / "out.jsonl"
        subprocess.run([*cli, "export", "-o", str(out)], cwd=ROOT, check=True, capture_output=True)
        records = [json.loads(line) for line in out.read_text().splitlines()]
    print(f"crawl exit status {crawl.returncode}")
    by_path = {re.sub(r"^https?://[^/]+", "", r["url"]): r for r in records}
    story_of = {**{s.path: s for s in site.stories}, **{s.wire_path: s for s in site.stories if s.wire_path}}
    stored = Counter(story_of[p].page.key for p in by_path if p in story_of)
    twice = sorted(k for k, n in stored.items() if n > 1)
    strays = sorted(p for p in by_path if p not in story_of)
    print(
        f"stories stored: {len(stored)} of {len(site.stories)}; stored twice: {len(twice)} {twice[:5]}; "
        f"stored that are not stories: {strays}"
    )
    private = [p for p in site.requested if p.startswith("/private/")]
    print(
        f"requests to /private/: {len(private)}; article pages downloaded twice: "
        f"{sum(n > 1 for p, n in Counter(r.split('?')[0] for r in site.requested).items() if p in story_of)}"
    )
    ours, theirs = [], []
    # A story whose wire copy was met first is stored under the wire URL, with the wire
    # copy's text: those pages say nothing of extraction from the real page, so they are
    # scored apart from it, and a story not stored at all scores zero.
    wire_first = [s for s in site.stories if s.path not in by_path and s.wire_path in by_path]
    for story in site.stories:
        if story in wire_first:
            continue
        record = by_path.get(story.path)
        text = record["text"] if record else ""
        ours.append(score_page(story.page.body, text, optional=False))
        theirs.append(
            score_page(
                story.page.body,
                trafilatura.extract(story.page.html, include_comments=False) or "",
                optional=False,
            )
        )
    print(
        f"scored: the {len(ours)} stories stored under their own URL "
        f"({len(wire_first)} were first met as a wire copy)"
    )
    for name, scores in (("newsmill (stored text)", ours), ("trafilatura defaults", theirs)):
        s = summarize(scores)
        print(f"{name:24} P {s.precision:.3f}  R {s.recall:.3f}  F1 {s.f1:.3f}  ({s.pages} pages)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
