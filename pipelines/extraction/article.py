"""One HTML page in, one article record out: the body text and its metadata.

A pure function of (html, url) so that it can run in a worker process, from the CLI's
`extract` command and from the benchmarks alike. The page is parsed once: metadata is read from
the tree first, then the same tree is pruned of boilerplate and handed to trafilatura (which
works on its own copy). How each rule was chosen, and what it scores, is in bench/EXTRACTION.md.
"""

from __future__ import annotations

from lxml import etree
from lxml.html import HtmlComment, HtmlElement, HtmlEntity, HtmlProcessingInstruction, fromstring
from trafilatura.utils import (
    DOCTYPE_TAG,
    FAULTY_HTML,
    INVALID_XML_CHARS,
    decode_file,
    is_dubious_html,
    load_html,
)

from pipelines.extraction.body import (
    BodyChars,
    body_from_jsonld,
    clean_lines,
    drop_scripts,
    extract_text,
    normalise,
    prune_boilerplate,
)
from pipelines.extraction.extracted import MIN_ARTICLE_CHARS, Extracted
from pipelines.extraction.metadata import (
    ARTICLE_TYPES,
    PageMetadata,
    detect_language,
    fill_from_trafilatura,
    read_metadata,
)
from pipelines.extraction.standfirst import lone_prose_before_body, standfirst

__all__ = ["ARTICLE_TYPES", "MIN_ARTICLE_CHARS", "Extracted", "extract_article"]

# The JSON-LD articleBody replaces the extracted text only when extraction found next to nothing
# and the page's own record holds far more: a script-rendered page, typically. Elsewhere it is
# often a teaser or one live-blog post, so it is no better than the page.
JSONLD_MIN_CHARS = 500
JSONLD_RATIO = 3.0

# The guard against pruning that took the article with it. Pruning removes boilerplate that
# trafilatura would mostly have dropped too, but a removal can also change which container
# trafilatura settles on. When the text extracted from the pruned tree is under this share of
# the text still in that tree, the unpruned page is extracted too, and its text wins when it is
# this many times longer. (About 5% of pages take the second extraction.)
PRUNED_TEXT_SHARE = 0.3
UNPRUNED_GAIN = 1.2

# The characters trafilatura's load_html deletes before parsing (its INVALID_XML_CHARS), listed
# so that a page can be checked for them with a substring test each, several times cheaper than
# its regex over the whole page. Should trafilatura change the pattern, every page goes through
# load_html itself.
_INVALID_CHARS_PATTERN = "[\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\ufffe\\uffff]"
_INVALID_CHARS: tuple[str, ...] | None = (
    tuple(chr(c) for c in (*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0xFFFE, 0xFFFF))
    if INVALID_XML_CHARS.pattern == _INVALID_CHARS_PATTERN
    else None
)

# trafilatura.utils.HTML_PARSER's options (2.3.1), with lxml.html's element classes chosen in C.
# lxml.html's own lookup is a Python callback run for every element object lxml creates, some
# thousands per page across the copies trafilatura makes of the tree (copies keep the parser),
# about a twentieth of a worker's time; what it adds, classes for forms, inputs and labels, no
# extraction step uses.
HTML_PARSER = etree.HTMLParser(
    collect_ids=False, default_doctype=False, encoding="utf-8", remove_comments=True, remove_pis=True
)
HTML_PARSER.set_element_class_lookup(
    etree.ElementDefaultClassLookup(
        element=HtmlElement, comment=HtmlComment, pi=HtmlProcessingInstruction, entity=HtmlEntity
    )
)


def extract_article(html: str | bytes, url: str | None = None) -> Extracted:
    """Extract one page; a page with no recognisable body gives an empty `text`."""
    try:
        tree = parse_html(html)
    except (ValueError, TypeError, etree.ParserError):
        return Extracted()
    if tree is None:
        return Extracted()
    meta = read_metadata(tree, url)
    fill_from_trafilatura(meta, tree, url)
    # From here on the tree is body material only: metadata has been read from it.
    drop_scripts(tree)
    # Tables in news stories are data boxes and listings (dropping them measured better there);
    # on other pages (recipes, product sheets, documentation, wikis) they are the content.
    tables = not meta.marked_news
    prune_boilerplate(tree)
    # The body's text outside links: the full-cascade gate and the pruning guard both read it.
    body_chars = BodyChars(tree)
    raw = _extract(tree, url, tables, body_chars=body_chars)
    if not meta.marked_news and body_chars.exceeds(len(raw), PRUNED_TEXT_SHARE):
        raw = _unless_unpruned_is_longer(raw, html, url, tables)
    lines = clean_lines(raw, meta.title_variants, meta.authors, meta.author_bios)
    lines = _prefer_jsonld_when_richer(lines, meta)
    if lines:
        text_key = normalise(" ".join(lines))
        lead = standfirst(tree, meta.description, meta.title_variants, text_key)
        if lead is None:
            lead = lone_prose_before_body(tree, lines[0], text_key)
        if lead is not None:
            lines.insert(0, lead)
    text = "\n".join(lines)
    return Extracted(
        text=text,
        title=meta.title,
        authors=meta.authors,
        published_at=meta.published_at,
        language=meta.language or detect_language(text),
        description=meta.description,
        image=meta.image,
        tags=meta.tags,
        canonical_url=meta.canonical_url,
        marked_article=meta.marked_article,
        marked_other=meta.marked_other,
    )


def _extract(tree: HtmlElement, url: str | None, tables: bool, cascade: bool = True,
             body_chars: BodyChars | None = None) -> str:
    try:
        return extract_text(tree, url, tables, cascade, body_chars)
    except (ValueError, TypeError, RecursionError, etree.LxmlError):
        return ""


def _unless_unpruned_is_longer(raw: str, html: str | bytes, url: str | None,
                               tables: bool) -> str:
    """The text of the page parsed again and not pruned, when it is clearly longer than `raw`.

    Parsing again costs less than keeping an unpruned copy of every page for the few that
    need one."""
    try:
        tree = parse_html(html)
    except (ValueError, TypeError, etree.ParserError):
        return raw
    if tree is None:
        return raw
    drop_scripts(tree)
    unpruned = _extract(tree, url, tables)
    return unpruned if len(unpruned) > UNPRUNED_GAIN * len(raw) else raw


def parse_html(html: str | bytes) -> HtmlElement | None:
    """The tree trafilatura.utils.load_html gives, for less CPU on the usual page.

    load_html deletes the characters libxml2 rejects with a regex substitution over the whole
    page, about a millisecond for a few hundred kB that almost never hold one. A page without
    them (bytes decoded first, as load_html decodes them) is repaired and parsed here as
    load_html does it (trafilatura 2.3.1), by HTML_PARSER above; a page holding such a
    character, and a parse that load_html would retry or reject, go to load_html itself, so odd
    pages get its treatment.
    """
    if isinstance(html, bytes):
        # load_html's own first step (decompression, encoding guess), so bytes can go on below.
        html = decode_file(html)
    if (not isinstance(html, str) or _INVALID_CHARS is None
            or any(char in html for char in _INVALID_CHARS)):
        return load_html(html)
    beginning = html[:50].lower()
    try:
        tree = fromstring(_repair(html, beginning), parser=HTML_PARSER)
    except Exception:  # load_html has its own handling for every parse failure: let it redo it
        return load_html(html)
    if tree is None or len(tree) < 1 or (is_dubious_html(beginning) and len(tree) < 2):
        return load_html(html)
    return tree


def _repair(html: str, beginning: str) -> str:
    """trafilatura.utils.repair_faulty_html for a page without invalid characters, copying the
    page only when something is repaired."""
    if "doctype" in beginning:
        # A doctype with a slash in its first line trips libxml2; load_html drops it.
        end = html.find("\n")
        first_line = html if end < 0 else html[:end]
        repaired = DOCTYPE_TAG.sub("", first_line, count=1)
        if end < 0:
            html = repaired + "\n"
        elif repaired != first_line:
            html = repaired + html[end:]
    # A self-closing <html/> in the first lines.
    for line in html[:4096].splitlines()[:4]:
        if "<html" in line and line.endswith("/>"):
            return FAULTY_HTML.sub(r"\1>", html, count=1)
    return html


def _prefer_jsonld_when_richer(lines: list[str], meta: PageMetadata) -> list[str]:
    if not meta.article_body or len(meta.article_body) < JSONLD_MIN_CHARS:
        return lines
    extracted = sum(len(line) for line in lines)
    # trafilatura's own fallback reads articleBody too, but flattens its paragraph breaks.
    same_text = len(lines) <= 1 < meta.article_body.count("\n") + 1 and normalise(
        " ".join(lines)) == normalise(meta.article_body)
    if len(meta.article_body) < JSONLD_RATIO * max(extracted, 1) and not same_text:
        return lines
    return clean_lines("\n".join(body_from_jsonld(meta.article_body)), meta.title_variants,
                       meta.authors, meta.author_bios)
