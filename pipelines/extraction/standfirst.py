"""The standfirst: the paragraph under the headline that sums an article up, found by what the
page's own description says, or by where it stands.

Pages set their standfirst (lead, teaser, "chapo", excerpt) apart from the body, in the article's
header beside the headline, and trafilatura settles on the body's container without it. Readers
and annotators count it as the article's first paragraph. The page names it in its metadata:
the description (og:description, JSON-LD, meta description) is, on most news and magazine
pages, the standfirst word for word, or its first words cut short. So the element whose text
begins with the description's first words, after the headline, is the standfirst; when the
extracted text does not already hold it, it goes in front. No class names are read: CMSs call
the box anything ("teaser-text", "article-intro", "entry-excerpt", "ts-intro", "chapo").

A page whose description says something else (or nothing) gets a second look: the one paragraph
of prose standing alone between the headline and the start of the extracted text is its
standfirst. Bylines, dates, share buttons and reading times are short; a lead picture's caption
has gone with its figure; several paragraphs there are teasers or a summary box, not a lead.

Measured in bench/EXTRACTION.md (issue 21, fourth round).
"""

from __future__ import annotations

from lxml.html import HtmlElement

from pipelines.extraction.body import normalise

# The description's first words that an element's text must begin with. Fewer words match
# headlines and captions that open the same way; a description cut short within them is rare.
PROBE_WORDS = 8
# A standfirst runs to the length of the description or a little past it (descriptions are cut
# at 150-300 characters): a much longer element is the article or its wrapper.
MAX_GROWTH = 2
MAX_EXTRA_CHARS = 200
# A description that is mostly the headline names no standfirst: the element it would find is the
# headline's own box (headline, byline, date).
TITLE_SHARE = 0.5
# The elements a standfirst is written in: paragraphs, boxes, subheadings, emphasis.
_TAGS = frozenset({"p", "div", "h2", "h3", "span", "strong", "section", "header", "em", "b"})
# ...and the elements its first words may sit in: those, links, list items, italics, fonts.
_OPENING_TAGS = ("h1", *_TAGS, "a", "li", "i", "font")
# Between headline and body, a block of prose is at least this long, ends like a sentence and
# is at most this share link text; a block longer than the maximum is the article itself.
PROSE_MIN_CHARS = 100
PROSE_MAX_CHARS = 1500
PROSE_LINK_SHARE = 0.3
SENTENCE_ENDS = (".", "!", "?", '"', "\u201c", "\u201d", "\u00bb", ")")
# The body's first line is recognised by its first characters, normalised.
ANCHOR_CHARS = 60
_BLOCK_TAGS = ("p", "div", "h2", "h3", "section", "header", "li", "span", "strong")
_NESTED_BLOCKS = frozenset({"p", "div", "h2", "h3", "section", "header", "li", "ul", "ol",
                            "table"})


def standfirst(tree: HtmlElement, description: str | None, titles: set[str],
               text_key: str) -> str | None:
    """The page's standfirst, when its text is not already in `text_key` (the extracted text,
    normalised); else None.

    Only elements after the page's first <h1> count, when it has one: before the headline sit
    the site's own tagline and menus, whose description some pages reuse."""
    if not description:
        return None
    key = normalise(description)
    words = key.split()
    if len(words) < PROBE_WORDS:
        return None
    probe = " ".join(words[:PROBE_WORDS])
    if probe in text_key:
        return None
    for title in titles:
        title_key = normalise(title)
        if title_key and len(title_key) >= TITLE_SHARE * len(key) and key.startswith(title_key):
            return None
    limit = MAX_GROWTH * len(description) + MAX_EXTRA_CHARS
    first_word = words[0]
    after_h1 = tree.find(".//h1") is None
    best: str | None = None
    for element in tree.iter(*_OPENING_TAGS):
        if element.tag == "h1":
            after_h1 = True
            continue
        if not after_h1:
            continue
        own = element.text
        # Cheap first: the element's own text must open with the description's first word (a
        # standfirst opening in a child, <p><strong>Berlin.</strong> ..., is found from the
        # child upwards).
        if not own or first_word not in own.casefold() or not normalise(own).startswith(
                first_word):
            continue
        found = _lead_from(element, probe, limit)
        if found is not None and (best is None or len(found) < len(best)):
            best = found
    return best


def _lead_from(element: HtmlElement, probe: str, limit: int) -> str | None:
    """The text of `element`, or of the nearest ancestor it opens, that begins with `probe`."""
    node: HtmlElement | None = element
    while node is not None:
        content = " ".join(node.text_content().split())
        if len(content) > limit:
            return None
        content_key = normalise(content)
        # Only a paragraph-like element is a standfirst: a list item or a link opening with
        # the words is climbed past, to the box around it.
        if content_key.startswith(probe) and node.tag in _TAGS:
            return content
        # Climb only while the element is the opening words of its parent's text.
        if not (probe.startswith(content_key) or content_key.startswith(probe)):
            return None
        node = node.getparent()
    return None


def lone_prose_before_body(tree: HtmlElement, first_line: str, text_key: str) -> str | None:
    """The one paragraph of prose between the page's <h1> and the extracted text's first line,
    when there is exactly one; else None.

    `text_key` is the extracted text, normalised: a block found in it is the body already. When
    the walk never reaches the body (its first line sits in markup not walked here), nothing is
    taken: the stretch after the headline may then be the whole page."""
    h1 = tree.find(".//h1")
    anchor = normalise(first_line)[:ANCHOR_CHARS]
    if h1 is None or not anchor:
        return None
    headline = set(h1.iter())
    after_h1 = False
    found: list[str] = []
    for element in tree.iter("h1", *_BLOCK_TAGS):
        if element is h1:
            after_h1 = True
            continue
        own = element.text
        # A wrapper's own text is blank: skipped before its (whole-page) text is read.
        if not after_h1 or element in headline or not own or own.isspace():
            continue
        content = " ".join(element.text_content().split())
        key = normalise(content)
        if key.startswith(anchor) or (len(key) > ANCHOR_CHARS // 2 and key in text_key):
            return found[0] if len(found) == 1 else None
        if _is_prose(element, content):
            found.append(content)
            if len(found) > 1:
                return None
    return None


def _is_prose(element: HtmlElement, content: str) -> bool:
    if not PROSE_MIN_CHARS <= len(content) <= PROSE_MAX_CHARS:
        return False
    if not content.endswith(SENTENCE_ENDS):
        return False
    if any(child.tag in _NESTED_BLOCKS for child in element.iterdescendants()):
        return False
    linked = sum(len(" ".join(link.text_content().split())) for link in element.iter("a"))
    return linked <= PROSE_LINK_SHARE * len(content)
