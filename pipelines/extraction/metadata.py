"""An article's metadata, read from what the page says about itself, best source first.

Order for every field: JSON-LD (the publisher's own structured record), then OpenGraph and other
meta tags, then trafilatura's heuristics, which are only consulted when a field is still missing
because they cost a date search over the whole page.
"""

from __future__ import annotations

import functools
import hashlib
import html
import json
import re
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from lxml import etree
from lxml.html import HtmlElement

if TYPE_CHECKING:
    from trafilatura.settings import Document

ARTICLE_TYPES = {"article", "newsarticle", "reportagenewsarticle", "blogposting",
                 "analysisnewsarticle", "opinionnewsarticle", "reviewnewsarticle",
                 "backgroundnewsarticle", "liveblogposting", "report", "socialmediaposting",
                 "techarticle", "scholarlyarticle", "askpublicnewsarticle"}
# The JSON-LD types that say "news story": where tables are data boxes and listings.
NEWS_TYPES = {"newsarticle", "reportagenewsarticle", "analysisnewsarticle", "opinionnewsarticle",
              "reviewnewsarticle", "backgroundnewsarticle", "askpublicnewsarticle",
              "liveblogposting"}
PERSON_TYPES = {"person"}

WHITESPACE = re.compile(r"\s+")
BYLINE_PREFIX = re.compile(r"^\s*(?:(?:written|words|reported|posted|text)\s+)?by[:\s]+", re.I)
# Several names in one string: "A, B and C", "A & B", "A; B". A lone comma is split on only when
# every part looks like a full name, so "Smith, Jr." or "Doe, Reuters" style suffixes survive.
AUTHOR_SPLIT = re.compile(r"\s*(?:;|\||&|\band\b|\bund\b|\bet\b|\by\b)\s*", re.I)
GENERIC_AUTHOR = re.compile(
    r"\b(?:staff|reporters?|correspondents?|editors?|newsroom|desk|team|agencies|contributors?"
    r"|wire services?)\b", re.I)
URL = re.compile(r"https?://\S+")
ZONE_LETTERS = re.compile(r"\b[A-Z]{2,5}\s*$")  # "... 10:00 IST"
LANG_TAG = re.compile(r"^([a-z]{2,3})(?:[-_][a-z0-9]+)*$", re.I)


@dataclass(slots=True)
class PageMetadata:
    """Everything read from the page before its body is extracted."""

    title: str | None = None
    title_variants: set[str] = field(default_factory=set)  # every way the page names itself
    authors: list[str] = field(default_factory=list)
    author_bios: list[str] = field(default_factory=list)  # JSON-LD Person descriptions
    published_at: datetime | None = None
    language: str | None = None
    description: str | None = None
    image: str | None = None
    tags: list[str] = field(default_factory=list)
    canonical_url: str | None = None
    marked_article: bool = False
    marked_other: bool = False  # the page says it is something else: og:type website, ...
    marked_news: bool = False  # its JSON-LD names a news story type (NewsArticle, LiveBlogPosting)
    article_body: str | None = None  # JSON-LD articleBody, a fallback for the body


def clean_text(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    # JSON-LD is often written by templates that HTML-escape it ("GOP&#8217;s").
    text = WHITESPACE.sub(" ", html.unescape(value) if "&" in value else value).strip()
    return text or None


def jsonld_nodes(tree: HtmlElement) -> Iterator[tuple[dict[str, Any], bool]]:
    """(object, is_top_level) for every JSON object in the page's JSON-LD blocks.

    Top level means the block itself, a list in it or its @graph: the page's own record lives
    there, while nested objects are its parts (a live blog's updates, an author, a publisher).
    """
    for script in tree.xpath('//script[@type="application/ld+json"]/text()'):
        try:
            data = json.loads(script)
        except ValueError:
            # Some CMSs emit raw newlines or trailing commas; strict=False rescues the first kind.
            try:
                data = json.loads(script, strict=False)
            except ValueError:
                continue
        stack: list[tuple[Any, bool]] = [(data, True)]
        while stack:
            node, top = stack.pop(0)
            if isinstance(node, list):
                stack[:0] = [(item, top) for item in node]
            elif isinstance(node, dict):
                yield node, top
                stack.extend((v, top and k == "@graph") for k, v in node.items()
                             if isinstance(v, dict | list))


def node_types(node: dict[str, Any]) -> set[str]:
    kind = node.get("@type")
    kinds = kind if isinstance(kind, list) else [kind]
    return {k.lower() for k in kinds if isinstance(k, str)}


MetaTags = dict[str, list[str]]


def meta_tags(tree: HtmlElement) -> MetaTags:
    """Every <meta> content by its lower-cased property, name, itemprop or http-equiv, read in
    one pass over the tree rather than one XPath search per key."""
    tags: MetaTags = {}
    for element in tree.iter("meta"):
        content = clean_text(element.get("content"))
        if not content:
            continue
        for attr in ("property", "name", "itemprop", "http-equiv"):
            if key := element.get(attr):
                tags.setdefault(key.strip().lower(), []).append(content)
    return tags


def _meta(tags: MetaTags, *keys: str) -> str | None:
    """The first <meta> content among the keys, in the order given."""
    for key in keys:
        if values := tags.get(key.lower()):
            return values[0]
    return None


def _meta_all(tags: MetaTags, *keys: str) -> list[str]:
    return [value for key in dict.fromkeys(k.lower() for k in keys)
            for value in tags.get(key, [])]


def parse_datetime(value: object) -> datetime | None:
    """A timezone-aware datetime from ISO 8601 or RFC 2822; naive values are taken as UTC."""
    text = clean_text(value)
    if not text:
        return None
    parsed: datetime | None = None
    candidate = text.replace("Z", "+00:00") if text.endswith("Z") else text
    try:
        parsed = datetime.fromisoformat(candidate)
    except ValueError:
        try:
            parsed = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            parsed = None
        # The email parser knows only the US zones' letters; with any other ("10:00 IST") it
        # returns the time without its offset.
        if parsed is None or (parsed.tzinfo is None and ZONE_LETTERS.search(text)):
            parsed = _parse_loose(text) or parsed
    if parsed is None:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _parse_loose(text: str) -> datetime | None:
    # dateutil comes with trafilatura (through htmldate); it reads "2024-03-04 12:31:00 -0500" etc.
    try:
        from dateutil import parser as date_parser
    except ImportError:  # pragma: no cover - trafilatura always brings it
        return None
    from pipelines.extraction.timezones import TZINFOS

    with warnings.catch_warnings():
        # A zone no table knows is read as UTC, like any other date without an offset.
        warnings.simplefilter("ignore", date_parser.UnknownTimezoneWarning)
        try:
            return date_parser.parse(text, tzinfos=TZINFOS)
        except (ValueError, OverflowError, TypeError):
            return None


def _names(value: object) -> Iterator[tuple[str, str | None, bool]]:
    """(name, bio, is_person) for each author in a JSON-LD author value."""
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, str):
            if name := clean_text(item):
                yield name, None, True
        elif isinstance(item, dict):
            name = clean_text(item.get("name"))
            if name:
                types = node_types(item)
                yield name, clean_text(item.get("description")), not (
                    types and types.isdisjoint(PERSON_TYPES)
                )


def split_authors(raw: Iterable[str]) -> list[str]:
    """Individual names, "By" and roles removed, duplicates dropped, order kept."""
    out: list[str] = []
    seen: set[str] = set()
    for value in raw:
        text = BYLINE_PREFIX.sub("", URL.sub("", value)).strip()
        if not text or "@" in text:
            continue
        parts = [p for p in AUTHOR_SPLIT.split(text) if p]
        pieces: list[str] = []
        for part in parts:
            commas = [c.strip() for c in part.split(",") if c.strip()]
            if len(commas) > 1 and all(len(c.split()) >= 2 for c in commas):
                pieces.extend(commas)
            else:
                pieces.append(part)
        for piece in pieces:
            name = BYLINE_PREFIX.sub("", piece).strip(" ,.-|")
            if name.isupper():  # "MELISSA GOLDIN" is a style, not the name
                name = name.title()
            key = name.lower()
            if name and key not in seen and len(name) <= 80:
                seen.add(key)
                out.append(name)
    return out


def normalise_language(value: object) -> str | None:
    text = clean_text(value)
    if not text:
        return None
    match = LANG_TAG.match(text.split(",")[0].strip())
    return match.group(1).lower() if match else None


def _image_url(value: object) -> str | None:
    if isinstance(value, list):
        for item in value:
            if found := _image_url(item):
                return found
        return None
    if isinstance(value, dict):
        return clean_text(value.get("url")) or clean_text(value.get("contentUrl"))
    return clean_text(value)


def _keywords(value: object) -> list[str]:
    values = value if isinstance(value, list) else [value]
    return [t.strip() for v in values if (text := clean_text(v))
            for t in text.split(",") if t.strip()]


def _dedupe(values: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    for value in values:
        if value.lower() not in seen:
            seen.add(value.lower())
            out.append(value)
    return out


def _article_node(nodes: list[tuple[dict[str, Any], bool]]) -> dict[str, Any] | None:
    articles = [(n, top) for n, top in nodes if node_types(n) & ARTICLE_TYPES]
    # The page's own record is top level; among several (teasers), the one with a headline and
    # an author is the page's, and the first such wins, since it is the one written for the page.
    ranked = sorted(enumerate(articles), key=lambda item: (
        not item[1][1], not item[1][0].get("headline"), not item[1][0].get("author"), item[0]))
    return ranked[0][1][0] if ranked else None


def read_metadata(tree: HtmlElement, url: str | None) -> PageMetadata:
    """Metadata from JSON-LD and meta tags; fields they leave empty stay None for a fallback."""
    nodes = list(jsonld_nodes(tree))
    article = _article_node(nodes) or {}
    tags = meta_tags(tree)
    meta = PageMetadata()
    og_type = (_meta(tags, "og:type") or "").lower()
    meta.marked_article = og_type == "article" or bool(article)
    meta.marked_other = not meta.marked_article and bool(og_type)
    meta.marked_news = any(node_types(node) & NEWS_TYPES for node, _ in nodes)

    h1 = [t for h in tree.xpath("//h1") if (t := clean_text(h.text_content()))]
    og_title = _meta(tags, "og:title", "twitter:title")
    html_title = clean_text(" ".join(tree.xpath("//head/title//text()")))
    meta.title = clean_text(article.get("headline")) or og_title or (h1[0] if h1 else None) \
        or _strip_site(html_title, _meta(tags, "og:site_name"))
    variants = [meta.title, og_title, html_title, clean_text(article.get("name")),
                _meta(tags, "twitter:title"), *h1]
    if html_title:
        variants.extend(re.split(r"\s+[|\-\u2013\u2014:\u00b7]\s+", html_title))
    meta.title_variants = {v for v in variants if v}

    people: list[str] = []
    organisations: list[str] = []
    for name, bio, is_person in _names(article.get("author")):
        (people if is_person else organisations).append(name)
        if bio:
            meta.author_bios.append(bio)
    for node, _top in nodes:
        if node_types(node) & PERSON_TYPES and (bio := clean_text(node.get("description"))):
            meta.author_bios.append(bio)
    named = [p for p in people if not GENERIC_AUTHOR.search(p)]
    from_meta = split_authors(_meta_all(tags, "author", "article:author", "parsely-author",
                                        "sailthru.author", "dc.creator", "byl"))
    # A structured "Staff reporter" loses to a real name in the meta tags; both are the page's
    # word, but the name is the one a reader sees in the byline.
    meta.authors = (split_authors(named) or [a for a in from_meta if not GENERIC_AUTHOR.search(a)]
                    or split_authors(people) or from_meta or split_authors(organisations))

    meta.published_at = parse_datetime(article.get("datePublished")) or parse_datetime(
        _meta(tags, "article:published_time", "og:published_time", "datePublished",
              "pubdate", "publishdate", "publish-date", "parsely-pub-date", "sailthru.date",
              "dc.date.issued", "date")
    ) or _time_element(tree)

    meta.language = (
        normalise_language(article.get("inLanguage"))
        or normalise_language(tree.get("lang") or tree.get("xml:lang"))
        or normalise_language(_meta(tags, "content-language", "og:locale", "language",
                                    "dc.language"))
    )
    meta.description = _meta(tags, "og:description") or clean_text(
        article.get("description")) or _meta(tags, "description", "twitter:description")
    image = _meta(tags, "og:image", "og:image:url", "og:image:secure_url") or _image_url(
        article.get("image")) or _meta(tags, "twitter:image", "twitter:image:src")
    meta.image = urljoin(url, image) if url and image else image
    keywords = _keywords(article.get("keywords")) + _keywords(_meta_all(tags, "article:tag"))
    meta.tags = _dedupe(keywords or _keywords(_meta(tags, "news_keywords", "keywords",
                                                    "parsely-tags")))
    canonical = clean_text((tree.xpath('//link[@rel="canonical"]/@href') or [None])[0])
    canonical = canonical or _meta(tags, "og:url")
    meta.canonical_url = urljoin(url, canonical) if url and canonical else canonical
    body = article.get("articleBody")
    meta.article_body = body.strip() if isinstance(body, str) and body.strip() else None
    return meta


def _strip_site(title: str | None, site: str | None) -> str | None:
    """The <title> without its " | Site name" part, when the site name is known."""
    if title and site:
        for sep in (" | ", " - ", " \u2013 ", " \u2014 ", " :: "):
            head, _, tail = title.rpartition(sep)
            if head and tail.strip().lower() == site.lower():
                return head.strip()
    return title


def _time_element(tree: HtmlElement) -> datetime | None:
    for value in tree.xpath('(//*[@itemprop="datePublished"]/@datetime | '
                            '//*[@itemprop="datePublished"]/@content | '
                            '//article//time/@datetime)[1]'):
        if parsed := parse_datetime(value):
            return parsed
    return None


def fill_from_trafilatura(meta: PageMetadata, tree: HtmlElement, url: str | None) -> None:
    """Let trafilatura's heuristics fill what the page's structured data left empty."""
    if (meta.title and meta.authors and meta.published_at and meta.description and meta.image
            and meta.tags):
        return
    try:
        doc = _trafilatura_metadata(meta, tree, url)
    except (ValueError, TypeError):  # a malformed page must not cost the article its body
        return
    meta.title = meta.title or clean_text(doc.title)
    if meta.title:
        meta.title_variants.add(meta.title)
    if not meta.authors and doc.author:
        meta.authors = split_authors(doc.author.split(";"))
    meta.published_at = meta.published_at or parse_datetime(doc.date)
    meta.description = meta.description or clean_text(doc.description)
    meta.image = meta.image or clean_text(doc.image)
    if not meta.tags:
        meta.tags = _dedupe([t for t in [*(doc.tags or []), *(doc.categories or [])]
                             if isinstance(t, str) and t.strip()])
    meta.language = meta.language or normalise_language(doc.language)


def _trafilatura_metadata(meta: PageMetadata, tree: HtmlElement, url: str | None) -> Document:
    """trafilatura.metadata.extract_metadata (trafilatura 2.3.1) step for step, without the
    steps whose result fill_from_trafilatura would not read.

    The licence and site name are never read; the title, author, date and tag searches only
    matter for a field the page left empty. The licence probe and the tag searches are most
    of the call's time. Every field read is the one extract_metadata gives, except on a page
    where a left-out step would raise: extract_metadata then gives nothing, this still does.
    """
    from trafilatura import metadata as tm

    doc = tm.examine_meta(tree)
    if doc.author and " " not in doc.author:
        doc.author = None
    try:
        doc = tm.extract_meta_json(tree, doc)
    except Exception as err:  # as extract_metadata does: bugs in trafilatura's JSON-LD reader
        tm.LOGGER.warning("error in JSON metadata extraction: %s", err)
    if not meta.title and not doc.title:
        doc.title = tm.extract_title(tree)
    if not meta.authors and not doc.author and may_name_author(tree):
        doc.author = tm.extract_author(tree)
    if not meta.published_at:
        date_config = tm.set_date_params(True)  # extract_metadata's default: extensive search
        date_config["url"] = doc.url or tm.extract_url(tree, url)
        doc.date = tm.find_date(tree, **date_config)
    if not meta.tags:
        doc.categories = doc.categories or tm.extract_catstags("category", tree)
        doc.tags = doc.tags or tm.extract_catstags("tag", tree)
    doc.clean_and_trim()
    return doc


# trafilatura's author search (extract_author) copies the whole tree, prunes the copy and runs
# its AUTHOR_XPATHS over it, regex tests calling back into Python for every element: a sixth of
# a page's CPU where the page names no author itself, and on about half of those pages nothing
# matches at all. Those XPaths (trafilatura 2.3.1, checked by digest below) test an element's
# name (author), its attributes and a child <rel>'s text; pruning removes elements and changes
# no attribute. So an element they find in the pruned copy has, in the page itself, one of
# these attributes holding one of these words (every regex alternative and every exact value
# they test contains one), or is an <author> or the parent of a <rel>. A page with none of
# them gets no author from extract_author. The six attributes are read by one XPath each,
# several times cheaper than their union, which XPath sorts into document order.
_AUTHOR_ATTRIBUTES = tuple(
    etree.XPath(f"//@{name}", smart_strings=False)
    for name in ("class", "id", "itemprop", "rel", "data-testid", "data-component")
)
_AUTHOR_WORDS = re.compile(
    r"author|Author|byl|Byline|BBL|username|channel-name|zuozhe|bianji|xiaobian|submitted-by"
    r"|posted-by|journalist-name|screenname|writer"
)
_AUTHOR_XPATHS_DIGEST = "e7cdb233823cbb0a7eadad1211ccea04ebd7789ae4ffc076b2fc765f00286c9f"


@functools.cache
def _author_xpaths_known() -> bool:
    from trafilatura.xpaths import AUTHOR_XPATHS  # late, as trafilatura everywhere here

    paths = "\n".join(expression.path for expression in AUTHOR_XPATHS)
    return hashlib.sha256(paths.encode()).hexdigest() == _AUTHOR_XPATHS_DIGEST


def may_name_author(tree: HtmlElement) -> bool:
    """False only where trafilatura's extract_author is sure to find no author."""
    if not _author_xpaths_known():
        return True
    # No word spans a line break, so the values can be searched as one string.
    if any(_AUTHOR_WORDS.search("\n".join(values(tree))) for values in _AUTHOR_ATTRIBUTES):
        return True
    return next(tree.iter("author", "rel"), None) is not None


def detect_language(text: str) -> str | None:
    """The body's language when the page does not state it; None without py3langid or text."""
    if len(text) < 40:
        return None
    try:
        import py3langid  # imported late: its model takes most of a second to load
    except ImportError:
        return None
    language, _score = py3langid.classify(text[:5000])
    return str(language) if language else None
