"""The article body: generic boilerplate removed from the DOM, trafilatura, then a text clean-up.

Every rule here is generic (HTML semantics, class-name vocabulary, link density, the page's own
metadata) and was kept only when it raised shingle F1 on the fundus-eval dev set (see
bench/EXTRACTION.md); there are no per-site rules. Rules that remove a container are guarded: an
element holding a large share of the page's paragraph text, or the headline, is never removed,
so a mislabelled wrapper cannot take the article with it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, cast

import trafilatura
import trafilatura.core
from lxml import etree
from lxml.html import HtmlElement
from trafilatura.xml import delete_element

if TYPE_CHECKING:
    from trafilatura.settings import Document, Extractor

WHITESPACE = re.compile(r"\s+")
WORD = re.compile(r"\w+")
ALNUM = re.compile(r"[^\W_]")  # a letter or digit: "___" is \w but says nothing

# Elements that are by definition not the running text of an article.
SEMANTIC_TAGS = frozenset({"aside", "figure", "figcaption", "nav", "dialog", "template"})
SEMANTIC_ROLES = frozenset({"complementary", "navigation", "contentinfo", "banner", "dialog",
                            "alertdialog"})
# Third-party embeds: their text is someone else's post, rendered as a card, not the article.
EMBED_CLASSES = re.compile(r"twitter-tweet|twitter-video|instagram-media|tiktok-embed"
                           r"|reddit-embed|bluesky-embed")
# Class/id words naming boilerplate that trafilatura's own vocabulary lets through, matched as
# whole words of the attribute ("promo-description", "sr-only"), never as substrings. Deliberately
# absent: "paywall" and "subscri*" (real bodies sit in paywall wrappers), "content", "story", and
# "read-more", which also names the expander around the rest of a text ("js_readmore").
BOILERPLATE_WORDS = re.compile(
    r"(?:^|[\s_-])(?:promo|recommend\w*|related|also-?read|sign-?up|newsletter"
    r"|caption|credit|author-?bio|bio|popular|trending|cta|comments?"
    r"|sr-only|visually-?hidden|screen-reader-text)(?:$|[\s_-])",
    re.I,
)
# The words (split at whitespace, "_" and "-") that a BOILERPLATE_WORDS match can start with;
# keep in step with its alternatives.
_BOILERPLATE_STARTS = frozenset({
    "promo", "related", "also", "alsoread", "sign", "signup", "newsletter",
    "caption", "credit", "author", "authorbio", "bio", "popular", "trending", "cta", "comment",
    "comments", "sr", "visually", "visuallyhidden", "screen",
})
TEASER_HEADING_TAGS = frozenset({"h2", "h3", "h4", "h5", "h6"})
# Headings that open a teaser list rather than a section of the article.
RELATED_HEADING = re.compile(
    r"^\s*(?:more (?:from|on|in|about|stories|news|coverage|to read)\b"
    r"|related(?: (?:stories|articles|content|coverage|links|news|reading|topics))?\s*:?\s*$"
    r"|read (?:more|next)\b|most (?:popular|read|viewed|shared)\b"
    r"|(?:editor'?s? )?(?:recommended|picks)\b|you (?:may|might) (?:also )?like\b"
    r"|popular\s*$|trending\b|see also\b|also read\b|latest (?:news|stories)\s*$)",
    re.I,
)
# A paragraph that is nothing but a web or e-mail address (a petition, a contact) names it for
# the reader: it is link text, but no teaser.
ADDRESS = re.compile(r"^\S*(?:https?://|www\.|@)\S*$")
# The text nodes of paragraphs, less those inside links (a link's tail is its parent's text).
# Plain strings (smart_strings off): only their lengths are read.
_PROSE_TEXT = etree.XPath("//p//text()[not(ancestor::a)]", smart_strings=False)
# Every text node of the body, and those inside links: the body's text outside links is the
# difference (the HTML parser never nests a link in a link), twice as fast as asking XPath for
# text nodes without a link among their ancestors.
_BODY_TEXT = etree.XPath("//body//text()", smart_strings=False)
_LINK_TEXT = etree.XPath("//body//a//text()", smart_strings=False)
_BODIES = etree.XPath("//body")
_STRING = etree.XPath("string()", smart_strings=False)
LINK_SHARE = 0.7  # a paragraph whose text is mostly link text is a teaser, not prose
GUARD_SHARE = 0.3  # never remove a box holding more than this share of the paragraph text
# When the fast extraction is shorter than any of these, trafilatura's full cascade runs too.
FULL_CASCADE_MIN_CHARS = 500  # twice trafilatura's MIN_EXTRACTED_SIZE
FULL_CASCADE_SHARE = 0.5  # of the text in the page's <p> elements, outside links
FULL_CASCADE_BODY_SHARE = 0.3  # of all the text in the page's body, outside links
# ...or when trafilatura's main extractor gave less than this share of the fast text, the rest
# coming from its fallbacks (its baseline, its recall retry).
FULL_CASCADE_MAIN_SHARE = 0.3

# Text lines that are never body, whatever element they came from.
PROMO_LINE = re.compile(
    r"^\s*(?:read more|read next|related|see also|also read|more from|sign up|subscribe"
    r"|click here|follow us|download (?:the|our) app|get the .{0,30}\bapp\b|watch|listen)"
    r"\b.{0,140}$",
    re.I,
)
CREDIT_LINE = re.compile(
    r"^\s*[(\[]?\s*(?:photo(?:graph)?|image|picture|credit|illustration|video)s?"
    r"(?: credit)?\s*(?::|by\b).{0,120}$",
    re.I,
)
BYLINE_LINE = re.compile(r"^\s*(?:(?:written|words|reported)\s+)?by\s+\S.{0,100}$", re.I)
MONTHS = (r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?")
DATE_LINE = re.compile(
    r"^\s*(?:(?:published|updated|posted|last updated|first published)\s*(?:on|at)?\s*:?\s*)?"
    r"(?:\w+day,?\s*)?(?:" + MONTHS + r"\s+\d{1,2},?\s+\d{4}|\d{1,2}\s+" + MONTHS + r",?\s+\d{4}"
    r"|\d{4}-\d{2}-\d{2}|\d{1,2}/\d{1,2}/\d{2,4}|\d{1,2}\.\s?\d{1,2}\.\s?\d{2,4})[\s,]*(?:(?:at\s+)?\d{1,2}[:.]\d{2}\s*"
    r"(?:[ap]\.?m\.?)?\s*(?:[A-Z]{2,4}|GMT[+-]?\d*|UTC)?)?\s*$",
    re.I,
)
BIO_VERB = r"(?:is|was|has|covers|writes|reports|joined|can be reached)\b"
# Closing lines that are site furniture in any language, told by form rather than words: a
# copyright notice (the sign, or the word most sites use in every language), short enough to be
# a notice and not a paragraph about copyright; and a label of a few words ending in a colon
# with nothing after it ("Mehr Themen:", "Lue seuraavaksi:", "Quellen:"): it announced a list
# or box that pruning or trafilatura already removed.
COPYRIGHT = re.compile(r"©|\bcopyright\b", re.I)
COPYRIGHT_LINE_MAX = 400
# Anywhere in the text, a short line opening with the sign is a picture's credit.
SIGN_CREDIT_MAX = 150
DANGLING_LABEL_WORDS = 3
META_LINE_MAX = 150  # a leading line of "|"-separated fields, one of them a date


def normalise(text: str) -> str:
    """Words only, case-folded: how two renderings of one headline are compared."""
    return " ".join(WORD.findall(unicodedata.normalize("NFKC", text).casefold()))


def _text_len(element: HtmlElement) -> int:
    # The length of the text with whitespace runs collapsed and the ends stripped: str.split()
    # and the regex \s agree on what whitespace is, and the split is several times cheaper.
    return len(" ".join(element.text_content().split()))


def _boilerplate_label(label: str) -> bool:
    """BOILERPLATE_WORDS.search(label), with a cheap test first that rules out most labels.

    Every match starts with one of _BOILERPLATE_STARTS as a whole word of the label (split at
    whitespace, "_" and "-"), or with "recommend". The shortcut is taken for ASCII labels only:
    under re.I a few non-ASCII letters (Kelvin sign, long s, dotless i) match ASCII ones.
    """
    if label.isascii():
        lowered = label.lower()
        if "recommend" not in lowered and _BOILERPLATE_STARTS.isdisjoint(
            lowered.replace("_", " ").replace("-", " ").split()
        ):
            return False
    return BOILERPLATE_WORDS.search(label) is not None


class _Pruner:
    """Removes elements from one tree, refusing any that would take the article with it."""

    def __init__(self, tree: HtmlElement) -> None:
        # Paragraph text lengths, each measured once: the guard sums them for every candidate
        # box, and the big wrappers hold most of the page's paragraphs. Keeping the elements
        # as keys also keeps lxml handing out the same proxy objects for them.
        self._lengths: dict[HtmlElement, int] = {}
        self.total = sum(self._length(p) for p in tree.iter("p"))

    def _length(self, paragraph: HtmlElement) -> int:
        length = self._lengths.get(paragraph)
        if length is None:
            length = self._lengths[paragraph] = _text_len(paragraph)
        return length

    def remove(self, element: HtmlElement, share: float = GUARD_SHARE) -> bool:
        parent = element.getparent()
        if parent is None or element.tag in ("html", "body"):
            return False
        if self.total and sum(self._length(p) for p in element.iter("p")) > share * self.total:
            return False
        if element.tag != "h1" and next(element.iter("h1"), None) is not None:
            return False
        # A paragraph around the element loses the element's text; measure it again if asked.
        for paragraph in element.iterancestors("p"):
            self._lengths.pop(paragraph, None)
        # Its tail, text of the parent that follows it, stays (a blank one keeps the words on
        # either side apart), as in every removal trafilatura makes.
        delete_element(element)
        return True


def drop_scripts(tree: HtmlElement) -> None:
    """Remove, in place, the scripts and style sheets, keeping JSON-LD.

    Every step of trafilatura deletes them before it reads a tree (its cleaning, readability's,
    jusText's and the baseline's), but only after copying it, several times a page: removed
    here, each copy and each pass over it is smaller (3% of a worker's time on the dev set).
    JSON-LD stays because trafilatura's baseline and forum detection read it.
    """
    for element in list(tree.iter("script", "style")):
        if not (element.tag == "script" and "ld+json" in (element.get("type") or "").lower()):
            delete_element(element)


def prune_boilerplate(tree: HtmlElement) -> None:
    """Remove, in place, the page furniture that trafilatura's own cleaning lets through."""
    pruner = _Pruner(tree)
    body = tree.find("body")
    candidates: list[HtmlElement] = []
    teaser_headings: list[HtmlElement] = []
    paragraphs: list[HtmlElement] = []
    # Class/id labels repeat within a page (every card of a list has the same one).
    label_verdicts: dict[str, bool] = {}
    # One walk over the body collects every candidate; removal comes after, so the walk never
    # runs over a tree that is changing under it.
    for element in (body if body is not None else tree).iter():
        tag = element.tag
        if not isinstance(tag, str):  # comments and processing instructions
            continue
        if tag == "p":
            paragraphs.append(element)
        elif tag in TEASER_HEADING_TAGS:
            teaser_headings.append(element)
        get = element.get
        label = f"{get('class') or ''} {get('id') or ''}"
        if (
            tag in SEMANTIC_TAGS
            or get("role") in SEMANTIC_ROLES
            # not rendered: lightboxes, notices meant for other visitors
            or get("hidden") is not None
            or (tag == "blockquote" and EMBED_CLASSES.search(label))
        ):
            candidates.append(element)
        elif tag not in ("article", "main", "body") and label != " ":
            verdict = label_verdicts.get(label)
            if verdict is None:
                verdict = label_verdicts[label] = _boilerplate_label(label)
            if verdict:
                candidates.append(element)
    for element in candidates:
        pruner.remove(element)
    for heading in teaser_headings:
        parent = heading.getparent()
        if parent is None:
            continue
        words = WHITESPACE.sub(" ", heading.text_content()).strip()
        if len(words) <= 60 and RELATED_HEADING.match(words):
            # The heading's own box is the teaser list it announces.
            target = heading if parent.tag in ("body", "article", "main") else parent
            pruner.remove(target, share=0.2)
    for paragraph in paragraphs:
        # Without a link a paragraph has no link text, and is prose: skip measuring it.
        if paragraph.getparent() is None or next(paragraph.iter("a"), None) is None:
            continue
        text = WHITESPACE.sub(" ", paragraph.text_content()).strip()
        # "From the Standard:" introduces the quote that follows; it is prose despite its link.
        if not text or text.endswith(":"):
            continue
        linked = sum(_text_len(a) for a in paragraph.iter("a"))
        if linked >= LINK_SHARE * len(text) and not ADDRESS.match(text):
            pruner.remove(paragraph)


def extract_text(tree: HtmlElement, url: str | None, tables: bool = False,
                 cascade: bool = True, body_chars: BodyChars | None = None) -> str:
    """trafilatura's main-text extraction on an already pruned tree, as lines.

    trafilatura's fast mode skips its comparison with readability and jusText, a third of its
    time per page. That comparison only changes the result when the own extraction came out
    short (under trafilatura's minimum, or under half of what readability finds), so the full
    cascade runs only when the fast text is short beside the page's own text, or came from
    trafilatura's fallbacks rather than its main extractor (wants_full_cascade).
    """
    _MAIN_TEXT.arm()
    text = _bare_extraction(tree, url, fast=True, tables=tables)
    if cascade and wants_full_cascade(text, tree, _MAIN_TEXT.take(), body_chars):
        text = _bare_extraction(tree, url, fast=False, tables=tables)
    return text


def body_text_chars(tree: HtmlElement) -> int:
    """How much text the page's body holds outside links, whatever elements hold it."""
    # map() over the C methods: the same sums as generator expressions, at half the cost.
    return (sum(map(len, map(str.strip, _BODY_TEXT(tree))))
            - sum(map(len, map(str.strip, _LINK_TEXT(tree)))))


class BodyChars:
    """body_text_chars(tree), counted at most once and only when a decision needs it.

    The full-cascade gate and the pruning guard both compare a text's length with a share of
    it. The body's text in all, whitespace included, is at least as long and is had without
    a Python step per text node: a text at least that share of it is decided without the count.
    """

    def __init__(self, tree: HtmlElement) -> None:
        self._tree = tree
        self._chars: int | None = None
        self._bound: int | None = None

    def exceeds(self, length: float, share: float) -> bool:
        """Whether `length` is under `share` of the body's text outside links."""
        if self._chars is None:
            if self._bound is None:
                # Every text node of _BODY_TEXT is in the string value of its <body> (nested
                # bodies, which the HTML parser never makes, would only be counted twice).
                self._bound = sum(len(_STRING(body)) for body in _BODIES(self._tree))
            if length >= share * self._bound:
                return False
            self._chars = body_text_chars(self._tree)
        return length < share * self._chars


def wants_full_cascade(fast_text: str, tree: HtmlElement, main_chars: int | None = None,
                       body_chars: BodyChars | None = None) -> bool:
    """Whether trafilatura's comparison with readability and jusText could change the fast text.

    They replace it with twice its length, so it is measured against the page's prose (text in
    paragraphs) and, for pages whose text sits in other elements, a smaller share of all the
    body's text. Linked text is left out of both: readability and jusText discount it, and
    menus and teaser cards built of paragraphs inside links (a thousand of them on some pages)
    would otherwise send a page with a correct fast text through the full cascade, several
    times its cost. And the comparison runs before trafilatura's fallbacks (its baseline, its
    recall retry): when the fast text came mostly from them (`main_chars`, what its main
    extractor found, is under 30% of it), the full cascade may settle on something else.
    `body_chars` measures the tree's body, when the caller shares one with other decisions.
    """
    size = len(fast_text)
    return (
        size < FULL_CASCADE_MIN_CHARS
        or (main_chars is not None and main_chars < FULL_CASCADE_MAIN_SHARE * size)
        or size < FULL_CASCADE_SHARE * sum(map(len, _PROSE_TEXT(tree)))
        or (body_chars or BodyChars(tree)).exceeds(size, FULL_CASCADE_BODY_SHARE)
    )


class _MainTextProbe:
    """The length of the text trafilatura's main extractor found in one extraction.

    trafilatura's result does not say whether its main extractor or a fallback produced it;
    its function `extract_content` (the main extractor, looked up by trafilatura.core at each
    call) is wrapped to record it. Armed before a fast extraction, it records the first call
    only: the recall retry calls the main extractor again. Other callers of trafilatura in the
    process (the bench's reference extraction) pass through unrecorded.
    """

    def __init__(self) -> None:
        self.armed = False
        self.chars: int | None = None

    def arm(self) -> None:
        self.armed, self.chars = True, None

    def take(self) -> int | None:
        chars, self.armed, self.chars = self.chars, False, None
        return chars

    def record(self, text: str) -> None:
        if self.armed:
            self.armed, self.chars = False, len(text)


_MAIN_TEXT = _MainTextProbe()
_extract_content = getattr(trafilatura.core, "extract_content", None)


def _recording_extract_content(cleaned_tree: HtmlElement, options: Extractor) -> tuple[Any, str]:
    body, text = _extract_content(cleaned_tree, options)  # type: ignore[misc]
    _MAIN_TEXT.record(text)
    return body, text


# Without the function (another trafilatura), the probe records nothing and the gate does
# without it.
if _extract_content is not None:
    trafilatura.core.extract_content = _recording_extract_content


def _bare_extraction(tree: HtmlElement, url: str | None, fast: bool, tables: bool) -> str:
    # trafilatura works on its own copy of a tree it is given, so the tree can be used twice.
    # With as_dict off it returns a Document or None, never the dict its signature allows.
    document = cast("Document | None", trafilatura.bare_extraction(
        tree,
        url=url,
        fast=fast,
        include_comments=False,
        include_tables=tables,
        with_metadata=False,
    ))
    return (document.text or "") if document is not None else ""


def clean_lines(
    text: str,
    titles: Iterable[str],
    authors: Iterable[str],
    bios: Iterable[str],
) -> list[str]:
    """The body's lines without headline, byline, dateline, credits, promos or author bio."""
    lines = [WHITESPACE.sub(" ", line).strip() for line in text.split("\n")]
    # Separators such as "___" or "* * *" carry no words.
    lines = [line for line in lines if ALNUM.search(line)]
    title_keys = {normalise(t) for t in titles} - {""}
    author_keys = {normalise(a) for a in authors} - {""}
    # Headline, standfirst-free byline and dateline come first; look only at the first few lines.
    start = 0
    while start < min(len(lines), 6):
        line = lines[start]
        key = normalise(line.removeprefix("- "))
        if (key in title_keys or key in author_keys or DATE_LINE.match(line) or _dated_meta(line)
                or (BYLINE_LINE.match(line) and _names_only(line))):
            start += 1
            continue
        break
    lines = lines[start:]
    lines = [line for line in lines
             if not (PROMO_LINE.match(line) and len(line) < 160)
             and not CREDIT_LINE.match(line)
             and not (line.startswith("©") and len(line) < SIGN_CREDIT_MAX)]
    surnames = {a.split()[-1] for a in authors if a.split()}
    bio_keys = [normalise(b) for b in bios if len(b) > 40]
    # An author bio closes the article; one mid-text is more likely a profile's own sentence.
    # So do copyright notices and dangling labels, in any order with the bio.
    while lines and (_is_bio(lines[-1], surnames, bio_keys)
                     or (len(lines) > 1 and _is_closing_furniture(lines[-1]))):
        lines.pop()
    return lines


def _dated_meta(line: str) -> bool:
    """A short line of fields split by "|", one a date ("2021-10-16 | Category | 3 comments")."""
    return (len(line) < META_LINE_MAX and "|" in line
            and any(DATE_LINE.match(field) for field in line.split("|")))


def _is_closing_furniture(line: str) -> bool:
    """A copyright notice, or a label of a few words ending in a colon (see COPYRIGHT)."""
    if line.endswith(":") and len(line.split()) <= DANGLING_LABEL_WORDS:
        return True
    return len(line) < COPYRIGHT_LINE_MAX and COPYRIGHT.search(line) is not None


def _names_only(byline: str) -> bool:
    """A byline line is short and has no sentence in it ("By Jane Doe and Max Roe, Reuters")."""
    rest = re.sub(r"^\s*(?:(?:written|words|reported)\s+)?by\s+", "", byline, flags=re.I)
    return len(rest.split()) <= 12 and not re.search(r"[.!?]\s+[A-Z]", rest)


def _is_bio(line: str, surnames: set[str], bio_keys: list[str]) -> bool:
    key = normalise(line)
    if key and any(key in bio or bio in key for bio in bio_keys):
        return True
    match = re.match(r"^((?:[A-Z][\w.'\u2019-]+\s){1,3})" + BIO_VERB, line)
    return bool(match and len(line) < 600 and match.group(1).split()[-1] in surnames)


def body_from_jsonld(article_body: str) -> list[str]:
    """The JSON-LD articleBody as lines; some sites send one blob, others keep paragraphs."""
    return [line for raw in article_body.splitlines()
            if (line := WHITESPACE.sub(" ", raw).strip()) and ALNUM.search(line)]
