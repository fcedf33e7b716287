"""The Daily Ledger: a fictional news site served over real HTTP on 127.0.0.1.

Tests, re-crawl tests and benchmarks point newsmill at it exactly as a user points it at a
real site. Everything a crawler can meet lives here: home and section pages full of
navigation boilerplate, article pages (one laid out like a Voice of America story), an RSS
and an Atom feed, robots.txt with a disallowed area, a sitemap index with a Google News
sitemap, links with tracking parameters, a syndicated copy without a canonical link, and
every kind of broken page the pipeline must survive.

Content comes from tests/site/pages:
  templates/*.html   page layouts, filled with {{NAME}} placeholders
  articles/*.txt     one article each: `key: value` front matter, `---`, paragraphs
  static/**          pages served as they are (about, contact, gallery, /private/...)
Feeds, sitemaps, home and section pages are rendered per request from the *current* set
of articles, so a test can add, replace or remove an article between two crawls and the
site's discovery surfaces follow. `{{BASE}}` becomes the server's real http://host:port
when a page is served, so absolute links always point back at this server.

    with NewsSite() as site:
        site.url                      # http://127.0.0.1:PORT
        site.add_article(synthetic_article(1))
        site.requested_paths()        # every path requested so far, in order
"""

from __future__ import annotations

import gzip
import hashlib
import html
import json
import random
import re
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Self
from urllib.parse import unquote, urlsplit
from xml.sax.saxutils import escape as xml_escape

PAGES_DIR = Path(__file__).parent / "pages"
SITE_NAME = "The Daily Ledger"
SECTIONS: dict[str, str] = {"world": "World", "business": "Business", "science": "Science"}

HTML_UTF8 = "text/html; charset=utf-8"
XML_UTF8 = "application/xml; charset=utf-8"

# The size limit the tests configure (crawl.max_page_size); the oversized page is well above it.
TEST_MAX_PAGE_SIZE = 200_000

# Feed and listing links carry these so that one article is reachable under many spellings;
# each article gets one per surface, chosen by its position, so every variant is exercised.
TRACKING_VARIANTS: tuple[str, ...] = (
    "",
    "?utm_source=rss&utm_medium=feed",
    "?utm_source=rss&utm_medium=feed&utm_campaign=morning-briefing#article-body",
    "?fbclid=IwAR2kQ7xYzLedger0MxNnB4",
    "?gclid=Cj0KCQiA5fetBhC9ARIsAP1UMgE",
    "#comments",
)

_PLACEHOLDER = re.compile(r"\{\{([A-Z_]+)\}\}")


def fill(template: str, values: Mapping[str, str]) -> str:
    """Replace {{NAME}} placeholders; unknown ones (notably {{BASE}}) stay for serve time."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


@dataclass(frozen=True, slots=True)
class Article:
    """One story on the site. `paragraphs` is the body exactly as a reader sees it."""

    path: str
    title: str
    section: str
    author: str
    published: datetime
    paragraphs: tuple[str, ...]
    description: str = ""
    dateline: str = ""
    caption: str = ""
    image: str = ""
    tags: tuple[str, ...] = ()
    template: str = "article"  # templates/<name>.html
    feed: str = "main"  # main: in feeds, sitemaps and listings; blog: only /blog/feed.xml; none
    content_type: str = HTML_UTF8
    truncate_at: str = ""  # the page is cut off just before this phrase (truncated HTML)
    syndicated_at: str = ""  # a wire copy of the same text, no canonical link, lives here
    updated: datetime | None = None

    @property
    def first_sentence(self) -> str:
        return re.split(r"(?<=[.!?])\s", self.paragraphs[0], maxsplit=1)[0]

    @property
    def text(self) -> str:
        return "\n".join(self.paragraphs)

    @property
    def modified(self) -> datetime:
        return self.updated or self.published


@dataclass(frozen=True, slots=True)
class Page:
    """A raw route: served as is (str bodies get {{BASE}} filled in, bytes are untouched)."""

    body: str | bytes
    content_type: str = HTML_UTF8
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds between the request and the answer: a slow page


@dataclass(frozen=True, slots=True)
class Request:
    """One request the site received, for assertions such as "never asked for /private/"."""

    method: str
    path: str  # percent-decoded, without the query string
    target: str  # as sent: path and query
    headers: Mapping[str, str]  # lower-cased names
    status: int
    at: datetime
    connection: str = ""  # the client's address and port: one per TCP connection


def parse_article(text: str) -> Article:
    """An articles/*.txt file: `key: value` lines, a `---` line, paragraphs split by blank lines."""
    head, _, body = text.partition("\n---\n")
    meta: dict[str, str] = {}
    for line in head.splitlines():
        if line.strip():
            key, _, value = line.partition(":")
            meta[key.strip()] = value.strip()
    paragraphs = tuple(" ".join(p.split()) for p in re.split(r"\n\s*\n", body) if p.strip())
    updated = meta.pop("updated", "")
    tags = meta.pop("tags", "")
    return Article(
        published=datetime.fromisoformat(meta.pop("published")),
        updated=datetime.fromisoformat(updated) if updated else None,
        tags=tuple(t.strip() for t in tags.split(",") if t.strip()),
        paragraphs=paragraphs,
        **meta,  # type: ignore[arg-type]
    )


def load_articles(pages_dir: Path = PAGES_DIR) -> list[Article]:
    return [parse_article(p.read_text("utf-8")) for p in sorted((pages_dir / "articles").glob("*.txt"))]


_WORDS = {
    "who": ["The finance ministry", "A regional court", "The port authority", "Local growers",
            "The transport union", "A panel of economists", "City engineers", "The health agency",
            "Coastal residents", "A coalition of insurers", "The national weather service",
            "Two rival carriers", "The central statistics office", "Hospital managers",
            "Dairy cooperatives", "The energy regulator", "Opposition lawmakers", "A state utility"],
    "did": ["warned", "confirmed", "said on Tuesday", "told reporters", "argued in a filing",
            "estimated", "reported late on Friday", "acknowledged", "projected", "insisted"],
    "what": ["that grain shipments would resume within weeks", "a sharp rise in repair costs",
             "that the new tariff schedule was unworkable", "fresh delays to the harbour tunnel",
             "record demand for night trains", "a shortfall in winter fuel reserves",
             "that vaccination rates had stalled in rural districts", "a slump in copper exports",
             "an unexpected surplus in the pension fund", "that river levels were still rising",
             "plans to double the number of apprentices", "a dispute over fishing quotas",
             "that bond yields had climbed for a sixth week", "a shortage of trained welders"],
    "tail": ["after months of negotiations", "despite objections from neighbouring provinces",
             "according to figures released this week", "as inspectors visited the site",
             "while talks with lenders continued", "in a statement posted online",
             "ahead of a parliamentary vote", "citing the cost of borrowing"],
}


def synthetic_article(n: int, *, section: str = "world", paragraphs: int = 6,
                      published: datetime | None = None) -> Article:
    """A distinct, plausible article number `n` for throughput benchmarks and re-crawl tests.

    Sentences are drawn from a seeded generator and carry `n`, so two synthetic articles
    never share a body (nor look like near-duplicates) and the same `n` always gives the
    same article.
    """
    rng = random.Random(n)
    when = published or datetime(2024, 3, 1, 6, tzinfo=UTC) + timedelta(minutes=37 * n)
    body = []
    for p in range(paragraphs):
        sentences = [
            f"{rng.choice(_WORDS['who'])} {rng.choice(_WORDS['did'])} "
            f"{rng.choice(_WORDS['what'])} {rng.choice(_WORDS['tail'])}, "
            f"with {rng.randint(2, 980)} {rng.choice(['jobs', 'tonnes', 'households', 'vessels'])} "
            f"affected in district {n}-{p}-{s}."
            for s in range(rng.randint(3, 5))
        ]
        body.append(" ".join(sentences))
    slug = f"report-{n}-{rng.choice(['harbour', 'budget', 'rail', 'grain', 'bonds'])}-update"
    return Article(
        path=f"/{when:%Y/%m/%d}/{slug}.html",
        title=f"Ledger Report {n}: {rng.choice(_WORDS['who'])} {rng.choice(_WORDS['did'])}",
        section=section,
        author=rng.choice(["Mara Okafor", "Tomas Lindqvist", "Priya Raman", "Jon Ellery"]),
        published=when,
        paragraphs=tuple(body),
        description=body[0][:150],
        dateline=rng.choice(["LISBON", "NAIROBI", "OSAKA", "VALPARAISO", "TALLINN"]),
    )


class NewsSite:
    """The fixture site on 127.0.0.1, an ephemeral port, in a background thread.

    Thread-safe: the server thread reads the content and appends to the request log under
    one lock, so a test may change the site while a crawl runs.
    """

    def __init__(self, pages_dir: Path = PAGES_DIR, *, fixtures: bool = True,
                 max_page_size: int = TEST_MAX_PAGE_SIZE, host: str = "127.0.0.1") -> None:
        """`host`: another loopback address (127.0.0.2, ...) is another site to a crawler."""
        self.pages_dir = pages_dir
        self._host = host
        self._lock = threading.Lock()
        self._templates = {p.stem: p.read_text("utf-8") for p in (pages_dir / "templates").glob("*.html")}
        self._articles: dict[str, Article] = {}
        self._pages: dict[str, Page] = {}
        self._log: list[Request] = []
        # Switches for a site that changes under a running crawler (source health tests):
        # every request answered with this status (403: the site blocks us), or article pages
        # served without their body text (a template change that breaks extraction).
        self.refuse_with: int | None = None
        self.bodyless = False
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        if fixtures:
            self._load_fixtures(max_page_size)

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> Self:
        server = _QuietServer((self._host, 0), _make_handler(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="news-site", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the site is not running; call start() first")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The base URL, without a trailing slash: http://127.0.0.1:PORT."""
        return f"http://{self.host}:{self.port}"

    def url_for(self, path: str) -> str:
        return self.url + path

    # --- content ---------------------------------------------------------------------------

    @property
    def articles(self) -> list[Article]:
        """Every article, newest first (the order feeds and listings use)."""
        with self._lock:
            return sorted(self._articles.values(), key=lambda a: (a.published, a.path), reverse=True)

    def article(self, path: str) -> Article:
        with self._lock:
            return self._articles[path]

    def main_articles(self) -> list[Article]:
        """The stories of the main site: what a crawl of the `main` surfaces must store."""
        return [a for a in self.articles if a.feed == "main"]

    def add_article(self, article: Article) -> None:
        """Add or replace an article; feeds, sitemaps and listings show it from now on."""
        with self._lock:
            self._articles[article.path] = article
        if article.syndicated_at:
            self.add_page(article.syndicated_at, self.render_article(article, template="wire",
                                                                     canonical=False))

    def update_article(self, path: str, **changes: object) -> Article:
        """Change fields of an article in place (e.g. new paragraphs, a later `updated`)."""
        with self._lock:
            article = replace(self._articles[path], **changes)  # type: ignore[arg-type]
            self._articles[path] = article
        return article

    def add_page(self, path: str, body: str | bytes = "", *, content_type: str = HTML_UTF8,
                 status: int = 200, headers: Mapping[str, str] | None = None,
                 delay: float = 0.0) -> None:
        """Serve `body` at `path` (exact path, any query), overriding any other route; `delay`
        seconds after the request is logged."""
        with self._lock:
            self._pages[path] = Page(body, content_type, status, dict(headers or {}), delay)

    def remove(self, path: str) -> bool:
        """Take a page or an article off the site (it answers 404 from now on)."""
        with self._lock:
            found = self._pages.pop(path, None) is not None
            found = self._articles.pop(path, None) is not None or found
        return found

    # --- request log -----------------------------------------------------------------------

    @property
    def requests(self) -> list[Request]:
        with self._lock:
            return list(self._log)

    def requested_paths(self) -> list[str]:
        return [r.path for r in self.requests]

    def hits(self, path: str) -> int:
        return sum(1 for r in self.requests if r.path == path)

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()

    def _record(self, request: Request) -> None:
        with self._lock:
            self._log.append(request)

    # --- rendering -------------------------------------------------------------------------

    def template(self, name: str) -> str:
        return self._templates[name]

    def render_article(self, article: Article, *, template: str | None = None,
                       canonical: bool = True) -> str:
        paragraphs = "\n".join(f"<p>{html.escape(p, quote=False)}</p>" for p in article.paragraphs)
        # The Ledger layout opens the body with an AP-style dateline ("LONDON -"), part of the
        # story text as on real sites; the VOA layout keeps it in the metadata block.
        related = [a for a in self.main_articles() if a.path != article.path][:4]
        values = {
            "TITLE": html.escape(article.title),
            "TITLE_JSON": _json_str(article.title),
            "DESCRIPTION": html.escape(article.description or article.first_sentence),
            "DESCRIPTION_JSON": _json_str(article.description or article.first_sentence),
            "AUTHOR": html.escape(article.author),
            "AUTHOR_JSON": _json_str(article.author),
            "PATH": article.path,
            "CANONICAL": (f'<link rel="canonical" href="{{{{BASE}}}}{article.path}">'
                          if canonical else ""),
            "OG_URL": (f'<meta property="og:url" content="{{{{BASE}}}}{article.path}">'
                       if canonical else ""),
            "PUBLISHED_ISO": article.published.isoformat(),
            "MODIFIED_ISO": article.modified.isoformat(),
            "PUBLISHED_HUMAN": f"{article.published:%B} {article.published.day}, "
                               f"{article.published:%Y} {article.published:%I:%M %p} UTC",
            "DATELINE": html.escape(article.dateline),
            "DATELINE_HTML": (f'<span class="dateline">{html.escape(article.dateline)} &mdash;</span>'
                              if article.dateline else ""),
            "CAPTION": html.escape(article.caption),
            "IMAGE": article.image or f"/images/{article.path.rsplit('/', 1)[-1][:-5]}.jpg",
            "SECTION": article.section,
            "SECTION_TITLE": SECTIONS.get(article.section, article.section.title()),
            "TAGS": ", ".join(article.tags),
            "TAG_LINKS": " ".join(f'<a href="/tag/{t.lower().replace(" ", "-")}">{html.escape(t)}</a>'
                                  for t in article.tags),
            "BODY": "" if self.bodyless else paragraphs,
            "RELATED": "\n".join(
                f'<li><a href="{a.path}?utm_source=related&amp;utm_medium=web">'
                f"{html.escape(a.title)}</a></li>" for a in related),
            "WORDS": str(sum(len(p.split()) for p in article.paragraphs)),
        }
        page = fill(self.template(template or article.template), values)
        if article.truncate_at and template is None:
            cut = page.find(html.escape(article.truncate_at, quote=False))
            if cut > 0:
                page = page[:cut]
        return page

    def render_amp(self, article: Article) -> str:
        """A stripped-down AMP copy whose canonical link points back at the real page."""
        return self.render_article(article, template="amp")

    def _link_variant(self, article: Article, index: int) -> str:
        return article.path + TRACKING_VARIANTS[index % len(TRACKING_VARIANTS)]

    def render_home(self) -> str:
        stories = self.main_articles()
        top = "\n".join(
            f'<article class="story-card"><h3><a href="{{{{BASE}}}}{self._link_variant(a, i + 1)}">'
            f"{html.escape(a.title)}</a></h3><p>{html.escape(a.description or a.first_sentence)}</p>"
            f'<a class="comments" href="{a.path}#comments">Comments</a></article>'
            for i, a in enumerate(stories))
        sections = "\n".join(
            f'<section class="rail"><h2><a href="/section/{key}">{name}</a></h2><ul>'
            + "".join(f'<li><a href="{a.path}?utm_source=homepage&amp;utm_medium=rail">'
                      f"{html.escape(a.title)}</a></li>" for a in stories if a.section == key)
            + "</ul></section>"
            for key, name in SECTIONS.items())
        return fill(self.template("home"), {"TOP_STORIES": top, "SECTION_RAILS": sections,
                                            "AMP_LINK": f"/amp{stories[-1].path}" if stories else "/"})

    def render_section(self, key: str) -> str | None:
        if key not in SECTIONS:
            return None
        stories = [a for a in self.main_articles() if a.section == key]
        items = "\n".join(
            f'<li class="teaser"><a href="{a.path}{"?fbclid=IwAR0sectionTeaser" if i % 2 else ""}">'
            f"{html.escape(a.title)}</a><span class=\"teaser-meta\">{a.published:%b %d}</span>"
            f"<p>{html.escape(a.description or a.first_sentence)}</p></li>"
            for i, a in enumerate(stories))
        return fill(self.template("section"), {"SECTION": key, "SECTION_TITLE": SECTIONS[key],
                                               "TEASERS": items})

    def render_rss(self, feed: str = "main") -> str:
        stories = [a for a in self.articles if a.feed == feed]
        items = "\n".join(
            "<item>"
            f"<title>{xml_escape(a.title)}</title>"
            f"<link>{{{{BASE}}}}{xml_escape(self._link_variant(a, i + 1))}</link>"
            f'<guid isPermaLink="false">ledger-{hashlib.sha1(a.path.encode()).hexdigest()[:10]}</guid>'
            f"<pubDate>{format_datetime(a.published)}</pubDate>"
            f"<dc:creator>{xml_escape(a.author)}</dc:creator>"
            f"<category>{xml_escape(SECTIONS.get(a.section, a.section))}</category>"
            f"<description>{xml_escape(a.description or a.first_sentence)}</description>"
            "</item>"
            for i, a in enumerate(stories))
        newest = max((a.modified for a in stories), default=datetime(2024, 1, 1, tzinfo=UTC))
        title = SITE_NAME + (" - Top Stories" if feed == "main" else " - Ledger Blog")
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/">\n<channel>\n'
            f"<title>{title}</title>\n<link>{{{{BASE}}}}/</link>\n"
            "<description>News, analysis and opinion from The Daily Ledger.</description>\n"
            "<language>en-us</language>\n"
            f"<lastBuildDate>{format_datetime(newest)}</lastBuildDate>\n"
            f'<atom:link href="{{{{BASE}}}}/feed.xml" rel="self" type="application/rss+xml"/>\n'
            f"{items}\n</channel>\n</rss>\n"
        )

    def render_atom(self) -> str:
        stories = self.main_articles()
        entries = "\n".join(
            "<entry>"
            f"<title>{xml_escape(a.title)}</title>"
            f'<link rel="alternate" type="text/html" href="{{{{BASE}}}}'
            f'{xml_escape(self._link_variant(a, i + 4))}"/>'
            f"<id>tag:dailyledger.example,2024:{a.path}</id>"
            f"<published>{a.published.isoformat()}</published>"
            f"<updated>{a.modified.isoformat()}</updated>"
            f"<author><name>{xml_escape(a.author)}</name></author>"
            f"<summary>{xml_escape(a.description or a.first_sentence)}</summary>"
            "</entry>"
            for i, a in enumerate(stories))
        newest = max((a.modified for a in stories), default=datetime(2024, 1, 1, tzinfo=UTC))
        return (
            '<?xml version="1.0" encoding="utf-8"?>\n'
            '<feed xmlns="http://www.w3.org/2005/Atom">\n'
            f"<title>{SITE_NAME}</title>\n<id>tag:dailyledger.example,2024:/</id>\n"
            f"<updated>{newest.isoformat()}</updated>\n"
            '<link rel="self" href="{{BASE}}/atom.xml"/>\n<link href="{{BASE}}/"/>\n'
            f"{entries}\n</feed>\n"
        )

    def render_sitemap_index(self) -> str:
        now = max((a.modified for a in self.main_articles()), default=datetime(2024, 1, 1, tzinfo=UTC))
        maps = ["/sitemap-news.xml", "/sitemap-pages.xml", "/sitemap-archive.xml"]
        entries = "\n".join(f"<sitemap><loc>{{{{BASE}}}}{m}</loc><lastmod>{now.isoformat()}</lastmod>"
                            "</sitemap>" for m in maps)
        return ('<?xml version="1.0" encoding="UTF-8"?>\n'
                '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
                f"{entries}\n</sitemapindex>\n")

    def render_news_sitemap(self) -> str:
        urls = "\n".join(
            f"<url><loc>{{{{BASE}}}}{xml_escape(a.path)}</loc><news:news><news:publication>"
            f"<news:name>{SITE_NAME}</news:name><news:language>en</news:language>"
            f"</news:publication><news:publication_date>{a.published.isoformat()}"
            f"</news:publication_date><news:title>{xml_escape(a.title)}</news:title>"
            f"</news:news></url>"
            for a in self.main_articles())
        return ('<?xml version="1.0" encoding="UTF-8"?>\n'
                '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
                'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">\n'
                f"{urls}\n</urlset>\n")

    def render_sitemap(self) -> str:
        """Every page a reader can reach, articles or not, as real sites list them."""
        pages = ["/", *(f"/section/{s}" for s in SECTIONS), "/about.html", "/contact.html",
                 "/galleries/spring-lantern-festival.html", VIDEO_PATH,
                 "/private/2024/03/05/members-briefing.html"]
        urls = [f"<url><loc>{{{{BASE}}}}{p}</loc><changefreq>daily</changefreq></url>" for p in pages]
        urls += [f"<url><loc>{{{{BASE}}}}{xml_escape(a.path)}</loc>"
                 f"<lastmod>{a.modified.isoformat()}</lastmod></url>" for a in self.main_articles()]
        return ('<?xml version="1.0" encoding="UTF-8"?>\n'
                '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
                + "\n".join(urls) + "\n</urlset>\n")

    def archive_months(self) -> list[str]:
        """The months ("2024-03") the main articles were published in, newest first."""
        return sorted({f"{a.published:%Y-%m}" for a in self.main_articles()}, reverse=True)

    def render_archive_index(self) -> str:
        """A sitemap index of one child sitemap per month of publication, each with the
        lastmod of its newest article, as newspapers lay their archives out."""
        entries = []
        for month in self.archive_months():
            newest = max(a.modified for a in self.main_articles() if f"{a.published:%Y-%m}" == month)
            entries.append(f"<sitemap><loc>{{{{BASE}}}}/archive/sitemap-{month}.xml</loc>"
                           f"<lastmod>{newest.isoformat()}</lastmod></sitemap>")
        return ('<?xml version="1.0" encoding="UTF-8"?>\n'
                '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
                + "\n".join(entries) + "\n</sitemapindex>\n")

    def render_archive_month(self, month: str) -> str | None:
        articles = [a for a in self.main_articles() if f"{a.published:%Y-%m}" == month]
        if not articles:
            return None
        urls = "\n".join(f"<url><loc>{{{{BASE}}}}{xml_escape(a.path)}</loc>"
                         f"<lastmod>{a.published.isoformat()}</lastmod></url>" for a in articles)
        return ('<?xml version="1.0" encoding="UTF-8"?>\n'
                '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
                f"{urls}\n</urlset>\n")

    def render_robots(self) -> str:
        return ("User-agent: *\nDisallow: /private/\nDisallow: /search\n\n"
                "User-agent: BadBot\nDisallow: /\n\n"
                "Sitemap: {{BASE}}/sitemap_index.xml\n")

    # --- serving ---------------------------------------------------------------------------

    def resolve(self, path: str) -> Page:
        """What the site answers for `path` right now (the handler's routing, callable directly)."""
        if self.refuse_with is not None:
            refusal = f"<html><body><h1>Error {self.refuse_with}</h1></body></html>"
            return Page(refusal, status=self.refuse_with)
        with self._lock:
            page = self._pages.get(path)
            article = self._articles.get(path)
            amp = self._articles.get(path.removeprefix("/amp")) if path.startswith("/amp/") else None
        if page is not None:
            return page
        if article is not None:
            return Page(self.render_article(article), article.content_type)
        if amp is not None:
            return Page(self.render_amp(amp))
        routes = {
            "/": self.render_home, "/index.html": self.render_home,
            "/feed.xml": self.render_rss, "/atom.xml": self.render_atom,
            "/robots.txt": self.render_robots, "/sitemap_index.xml": self.render_sitemap_index,
            "/sitemap-news.xml": self.render_news_sitemap, "/sitemap-pages.xml": self.render_sitemap,
            "/blog/feed.xml": lambda: self.render_rss("blog"),
        }
        if path in routes:
            body = routes[path]()
            if path.endswith(".xml"):
                kind = {"/feed.xml": "application/rss+xml", "/blog/feed.xml": "application/rss+xml",
                        "/atom.xml": "application/atom+xml"}.get(path, "application/xml")
                return Page(body, f"{kind}; charset=utf-8")
            if path == "/robots.txt":
                return Page(body, "text/plain; charset=utf-8")
            return Page(body)
        if path == "/archive/sitemap_index.xml":
            return Page(self.render_archive_index(), XML_UTF8)
        if path.startswith("/archive/sitemap-") and path.endswith(".xml"):
            month = self.render_archive_month(path.removeprefix("/archive/sitemap-").removesuffix(".xml"))
            if month is not None:
                return Page(month, XML_UTF8)
        if path.startswith("/section/"):
            section = self.render_section(path.removeprefix("/section/"))
            if section is not None:
                return Page(section)
        return Page(self.template("not_found"), status=404)

    def _load_fixtures(self, max_page_size: int) -> None:
        for article in load_articles(self.pages_dir):
            self.add_article(article)
        static = self.pages_dir / "static"
        for file in static.rglob("*.html"):
            path = "/" + file.relative_to(static).as_posix()
            self.add_page(path, file.read_text("utf-8"))
            if file.name == "index.html":
                self.add_page(path.removesuffix("index.html"), file.read_text("utf-8"))
        for path, page in broken_pages(self, max_page_size).items():
            self.add_page(path, page.body, content_type=page.content_type, status=page.status,
                          headers=page.headers)


def _json_str(value: str) -> str:
    """A string's JSON spelling without the quotes, for JSON-LD inside a template."""
    return json.dumps(value)[1:-1]


# A video page under a dated path, as news sites file them: an `articles` pattern for dated
# paths matches it, the page says it is a video (og:type) and has two lines of text.
VIDEO_PATH = "/2024/03/06/harbour-fireworks-video.html"

BROKEN_PATHS = {
    "empty": "/2024/03/09/overnight-briefing.html",
    "binary": "/2024/03/09/market-data-snapshot.html",
    "not_found": "/2024/03/09/mayor-resigns.html",
    "server_error": "/2024/03/09/election-results-live.html",
    "redirect_loop": "/2024/03/09/weather-warning.html",
    "redirect_loop_b": "/2024/03/09/weather-warning-update.html",
    "oversized": "/2024/03/09/budget-day-live-blog.html",
    "broken_feed": "/feeds/breaking.xml",
    "broken_sitemap": "/sitemap-archive.xml",
}


def broken_pages(site: NewsSite, max_page_size: int) -> dict[str, Page]:
    """The bad inputs of issue 2, each at an article-shaped URL so a crawl meets it."""
    blob = random.Random(2024).randbytes(8192)
    huge = synthetic_article(99, paragraphs=1)
    body = "\n".join(f"<p>{_live_entry(i)}</p>" for i in range(max_page_size // 150 + 400))
    huge_page = site.render_article(replace(huge, path=BROKEN_PATHS["oversized"],
                                            title="Budget Day: Live Updates"))
    huge_page = huge_page.replace("<!--BODY-END-->", body + "<!--BODY-END-->")
    garbage = ("<html><head><title>503 Service Temporarily Unavailable</title></head><body>"
               "<h1>Service Temporarily Unavailable</h1><p>The feed you requested is being "
               "rebuilt. <b>Try again<i> later</b></p><<<>>>&&&\x00</body>")
    return {
        BROKEN_PATHS["empty"]: Page(b""),
        BROKEN_PATHS["binary"]: Page(blob),
        BROKEN_PATHS["server_error"]: Page(
            "<html><body><h1>500 Internal Server Error</h1></body></html>", status=500),
        BROKEN_PATHS["redirect_loop"]: Page(
            "", status=302, headers={"Location": "{{BASE}}" + BROKEN_PATHS["redirect_loop_b"]}),
        BROKEN_PATHS["redirect_loop_b"]: Page(
            "", status=302, headers={"Location": "{{BASE}}" + BROKEN_PATHS["redirect_loop"]}),
        BROKEN_PATHS["oversized"]: Page(huge_page),
        BROKEN_PATHS["broken_feed"]: Page(garbage, "application/rss+xml; charset=utf-8"),
        BROKEN_PATHS["broken_sitemap"]: Page(garbage, XML_UTF8),
    }


# Pages that misbehave or mislead (issue 22), added by add_hostile_pages() to a site a test
# builds itself; each is listed in the main feed under an article-shaped path.
HOSTILE_PATHS = {
    "mislabelled": "/2024/04/02/old-town-cafe-reopens.html",
    "ist_date": "/2024/04/02/monsoon-arrives-early-in-kerala.html",
    "giant_title": "/2024/04/02/x.html",
    "long_fields": "/2024/04/02/council-names-every-street.html",
    "breaking": "/2024/04/02/breaking-earthquake-off-chile.html",
    "gzip_bomb": "/2024/04/02/archive-of-everything.html",
}
MISLABELLED_TITLE = "Café Crème Returns to the Old Town\u2019s Façades"  # a curly quote: cp1252 0x92
IST_PUBLISHED = "April 2, 2024 10:30 IST"  # 05:00 UTC
BREAKING_TEXT = "Breaking: an earthquake of magnitude 6.1 struck off northern Chile on Tuesday."
GIANT_TITLE_CHARS = 150_000  # under the test's size limit: it is the page's content that is hostile


def add_hostile_pages(site: NewsSite, max_page_size: int = TEST_MAX_PAGE_SIZE) -> None:
    """Each hostile page at its HOSTILE_PATHS path, listed in the feed as an article."""
    when = datetime(2024, 4, 2, 10, 30, tzinfo=UTC)
    base = synthetic_article(7001, published=when)

    def story(name: str, **changes: object) -> Article:
        article = replace(base, path=HOSTILE_PATHS[name], **changes)  # type: ignore[arg-type]
        site.add_article(article)
        return article

    # Windows-1252 bytes (the commonest Latin-1) under a UTF-8 header and <meta charset>.
    cafe = story("mislabelled", title=MISLABELLED_TITLE, paragraphs=(
        "The café on the square reopened its doors this week after a long renovation, its crème "
        "brûlée back on the menu and its façade restored to the colours of 1902.", *base.paragraphs[1:]))
    site.add_page(cafe.path, site.render_article(cafe).encode("cp1252"))
    # The dates of the page (JSON-LD, <meta>) name the zone only by its abbreviation.
    monsoon = story("ist_date", title="Monsoon Arrives Early in Kerala",
                    paragraphs=synthetic_article(7002).paragraphs)
    site.add_page(monsoon.path, site.render_article(monsoon).replace(when.isoformat(), IST_PUBLISHED))
    # A title of 150,000 characters over a body of one character.
    story("giant_title", title="Giant", paragraphs=("x",))
    site.add_page(HOSTILE_PATHS["giant_title"],
                  "<html><head><title>" + "Breaking " * (GIANT_TITLE_CHARS // 9) + "</title></head>"
                  "<body><article><p>x</p></article></body></html>")
    # A real story whose title, description and keywords run on and on.
    council = story("long_fields", title="Council " + "names every street again " * 200,
                    description="A description that never ends. " * 400,
                    tags=tuple(f"street-{i}" for i in range(500)),
                    paragraphs=synthetic_article(7003).paragraphs)
    site.add_article(council)
    # A one-line breaking-news item: short, but a real article.
    story("breaking", title="Earthquake off Chile", paragraphs=(BREAKING_TEXT,))
    # Compressed to a few kilobytes, many times the size limit once inflated.
    inflated = b"<html><body><p>" + b"all work and no play " * (max_page_size // 2) + b"</p></body></html>"
    story("gzip_bomb", title="Archive of Everything")
    site.add_page(HOSTILE_PATHS["gzip_bomb"], gzip.compress(inflated), headers={"Content-Encoding": "gzip"})


def add_copies(site: NewsSite, article: Article, count: int) -> list[str]:
    """`count` byte-identical copies of the article's page (no canonical link, as a wire
    client's republication often has), at /wire/story/N.html; their paths."""
    paths = []
    for i in range(1, count + 1):
        number = int(hashlib.sha1(article.path.encode()).hexdigest()[:6], 16) * 10 + i
        paths.append(f"/wire/story/{number}.html")
        site.add_page(paths[-1], site.render_article(article, canonical=False))
    return paths


def link_page(paths: list[str]) -> str:
    """A bare listing page linking to these paths, in this order."""
    links = "\n".join(f'<li><a href="{{{{BASE}}}}{p}">Story {i}</a></li>' for i, p in enumerate(paths))
    return f"<html><head><title>Latest</title></head><body><ul>\n{links}\n</ul></body></html>"


def _live_entry(i: int) -> str:
    return (f"{9 + i // 60:02d}:{i % 60:02d} GMT &mdash; Update {i}: the finance minister's "
            f"statement continues, with line item {i} of the spending plan read into the record "
            "as opposition members call for a recount of the figures.")


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        # Crawlers hang up mid-response on purpose (a page over the size limit, shutdown);
        # that is the client's business, not a failure worth a traceback on stderr.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


def _make_handler(site: NewsSite) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # HTTP/1.1 keeps connections open, as real news sites do; every response therefore
        # carries a Content-Length.
        protocol_version = "HTTP/1.1"
        server_version = "LedgerHTTP/1.0"

        def do_GET(self) -> None:
            self._answer(send_body=True)

        def do_HEAD(self) -> None:
            self._answer(send_body=False)

        def _answer(self, *, send_body: bool) -> None:
            # Decoded as real servers do, so /a%2Db.html and /a-b.html are one page.
            path = unquote(urlsplit(self.path).path) or "/"
            page = site.resolve(path)
            body = page.body.encode("utf-8") if isinstance(page.body, str) else page.body
            body = body.replace(b"{{BASE}}", site.url.encode())
            status = page.status
            etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
            if status == 200 and self.headers.get("If-None-Match") == etag:
                status, body = 304, b""
            # Logged before answering: once a client holds the response, the log shows it.
            site._record(Request(
                method=self.command, path=path, target=self.path,
                headers={k.lower(): v for k, v in self.headers.items()},
                status=status, at=datetime.now(UTC),
                connection=f"{self.client_address[0]}:{self.client_address[1]}"))
            if page.delay:
                time.sleep(page.delay)  # a slow server, not a test waiting on something
            self.send_response(status)
            self.send_header("Content-Type", page.content_type)
            self.send_header("Content-Length", str(len(body)))
            if page.status == 200:
                self.send_header("ETag", etag)
                self.send_header("Cache-Control", "max-age=60")
            for name, value in page.headers.items():
                self.send_header(name, value.replace("{{BASE}}", site.url))
            self.end_headers()
            if send_body and status != 304:
                self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            # The request log is the record; stderr noise would bury pytest's output.
            pass

    return Handler
