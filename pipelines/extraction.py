"""One HTML page in, one article record out: the body text and its metadata.

A pure function of (html, url) so that it can run in a worker process, from the CLI's
`extract` command and from the benchmarks alike.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import trafilatura
from lxml import html as lxml_html

ARTICLE_TYPES = {"article", "newsarticle", "reportagenewsarticle", "blogposting",
                 "analysisnewsarticle", "opinionnewsarticle", "reviewnewsarticle",
                 "backgroundnewsarticle", "liveblogposting", "report"}
MIN_ARTICLE_CHARS = 400  # below this a page with no article markup is judged not an article


@dataclass(slots=True)
class Extracted:
    """What one page yields. `text` is the body only, paragraphs separated by newlines."""

    text: str = ""
    title: str | None = None
    authors: list[str] = field(default_factory=list)
    published_at: datetime | None = None
    language: str | None = None
    description: str | None = None
    image: str | None = None
    tags: list[str] = field(default_factory=list)
    canonical_url: str | None = None  # rel=canonical or og:url as the page states it
    marked_article: bool = False  # og:type article or a JSON-LD Article type on the page

    @property
    def looks_like_article(self) -> bool:
        return self.marked_article or len(self.text) >= MIN_ARTICLE_CHARS

    def to_json(self) -> dict[str, object]:
        record = asdict(self)
        record["published_at"] = self.published_at.isoformat() if self.published_at else None
        return record


def _parse_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _jsonld_types(tree: lxml_html.HtmlElement) -> set[str]:
    types: set[str] = set()
    for script in tree.xpath('//script[@type="application/ld+json"]/text()'):
        try:
            data = json.loads(script)
        except ValueError:
            continue
        stack = [data]
        while stack:
            node = stack.pop()
            if isinstance(node, list):
                stack.extend(node)
            elif isinstance(node, dict):
                kind = node.get("@type")
                for name in kind if isinstance(kind, list) else [kind]:
                    if isinstance(name, str):
                        types.add(name.lower())
                stack.extend(v for k, v in node.items() if k == "@graph")
    return types


def _first(tree: lxml_html.HtmlElement, xpath: str) -> str | None:
    found = tree.xpath(xpath)
    return str(found[0]).strip() if found else None


def extract_article(html: str | bytes, url: str | None = None) -> Extracted:
    """Extract one page; a page with no recognisable body gives an empty `text`."""
    if isinstance(html, bytes):
        html = html.decode("utf-8", errors="replace")
    try:
        tree = lxml_html.fromstring(html)
    except (ValueError, lxml_html.etree.ParserError):
        return Extracted()
    og_type = (_first(tree, '//meta[@property="og:type"]/@content') or "").lower()
    marked = og_type == "article" or bool(_jsonld_types(tree) & ARTICLE_TYPES)
    canonical = _first(tree, '//link[@rel="canonical"]/@href') or _first(
        tree, '//meta[@property="og:url"]/@content'
    )
    doc = trafilatura.bare_extraction(
        tree, url=url, include_comments=False, with_metadata=True, as_dict=False
    )
    if doc is None:
        return Extracted(canonical_url=canonical, marked_article=marked)
    authors = [a.strip() for a in (doc.author or "").split(";") if a.strip()]
    return Extracted(
        text=(doc.text or "").strip(),
        title=doc.title,
        authors=authors,
        published_at=_parse_date(doc.date),
        language=doc.language,
        description=doc.description,
        image=doc.image,
        tags=[t for t in (doc.tags or []) if t] + [c for c in (doc.categories or []) if c],
        canonical_url=canonical,
        marked_article=marked,
    )
