"""The extraction step: one rule a test, on small pages written for the purpose.

Each page puts one kind of boilerplate inside an otherwise plain article, so a rule that stops
working shows here by name. None of this reads ../shared: the dev-set figures are the bench's job.
"""

from __future__ import annotations

import json
import pickle
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from lxml import etree
from lxml.html import HtmlElement
from trafilatura.utils import load_html

from bench.scoring import score_page, score_snippets, summarize, summarize_snippets
from pipelines.extraction import body as body_module
from pipelines.extraction.article import (
    Extracted,
    _unless_unpruned_is_longer,
    extract_article,
    parse_html,
)
from pipelines.extraction.body import (
    _MAIN_TEXT,
    BodyChars,
    _bare_extraction,
    body_text_chars,
    clean_lines,
    drop_scripts,
    prune_boilerplate,
    wants_full_cascade,
)
from pipelines.extraction.metadata import (
    may_name_author,
    parse_datetime,
    read_metadata,
    split_authors,
)

FIXTURES = Path(__file__).parent / "fixtures" / "extraction"
URL = "https://news.example.org/2024/03/01/council-vote.html"

BODY = [
    "The town council of Millbrook voted on Tuesday night to rebuild the old river bridge, "
    "ending a debate that has divided residents for the better part of a decade.",
    "The plan, approved by five votes to two, will replace the narrow stone crossing with a "
    "wider span carrying a footpath and a cycle lane, at a cost the council puts at four "
    "million dollars spread over three budgets.",
    "Supporters said the bridge had become unsafe for the school buses that cross it twice a "
    "day, and pointed to an engineering report that found cracks in two of its three arches.",
    "Opponents argued that the money would be better spent on the town's roads, many of which "
    "have not been resurfaced since the flood that closed the high street for a month.",
    "Work is expected to begin in the autumn, once the river is low enough for crews to reach "
    "the foundations, and to take about eighteen months to complete.",
]
HEADLINE = "Millbrook Council Votes to Rebuild River Bridge"


def page(inside: str = "", head: str = "", after: str = "", lang: str = ' lang="en"') -> str:
    """A plain article page; `inside` goes into the article after the body paragraphs."""
    paragraphs = "\n".join(f"<p>{p}</p>" for p in BODY)
    return f"""<!DOCTYPE html><html{lang}><head><meta charset="utf-8">
<title>{HEADLINE} | Millbrook Gazette</title>{head}</head>
<body><header><a href="/">Millbrook Gazette</a></header>
<main><article><h1>{HEADLINE}</h1>
<div class="story-body">{paragraphs}
{inside}</div></article>{after}</main>
<footer><p>Copyright Millbrook Gazette. All rights reserved.</p></footer></body></html>"""


def assert_full_body(text: str) -> None:
    for paragraph in BODY:
        assert paragraph in text


# --- the Voice-of-America-like page the issue names --------------------------------------------


@pytest.fixture(scope="module")
def voa() -> Extracted:
    html = (FIXTURES / "voa_like.html").read_text(encoding="utf-8")
    return extract_article(html, "https://news.example.org/a/north-korea-kim-talks/1234.html")


def test_voa_title_is_the_headline(voa: Extracted) -> None:
    assert voa.title == "North Korea's Kim Says Open to High-Level Talks With South"


def test_voa_text_begins_with_the_first_sentence(voa: Extracted) -> None:
    assert voa.text.startswith(
        "North Korean leader Kim Jong Un said he is open to expanding 'dialogue and "
        "cooperation' with the country's rival, South Korea."
    )


def test_voa_text_keeps_subheading_quote_and_last_paragraph(voa: Extracted) -> None:
    assert "Cautious response in Seoul" in voa.text.splitlines()
    assert '"Words alone are not enough.' in voa.text
    assert voa.text.rstrip().endswith("a series of measures to reduce military tensions.")


@pytest.mark.parametrize("boilerplate", [
    "Accessibility links", "Skip to main content", "Breaking News", "earthquake",
    "East Asia Pacific", "Share on Facebook", "FILE - North Korean leader", "Photo credit",
    "newsletter", "Subscribe", "Related", "Annual Military Drills", "Most Popular",
    "All rights reserved", "Terms of Use", "By Jane Doe", "March 01, 2024",
    "North Korea's Kim Says Open",
])
def test_voa_text_holds_no_boilerplate(voa: Extracted, boilerplate: str) -> None:
    assert boilerplate not in voa.text


def test_voa_metadata(voa: Extracted) -> None:
    assert voa.authors == ["Jane Doe", "Min-ji Park"]
    assert voa.published_at == datetime(2024, 3, 1, 9, 15, tzinfo=timezone(timedelta(hours=-5)))
    assert voa.language == "en"
    assert voa.image == "https://news.example.org/img/kim-talks.jpg"
    assert voa.tags == ["North Korea", "South Korea", "Kim Jong Un", "diplomacy"]
    assert voa.canonical_url == "https://news.example.org/a/north-korea-kim-talks/1234.html"
    assert voa.marked_article and voa.looks_like_article


# --- body rules --------------------------------------------------------------------------------


def test_parse_html_builds_the_tree_load_html_builds() -> None:
    form = page(
        inside='<form action="/s"><label>Search <input name="q"></label><select><option>a</option>'
        "</select></form>"
    )
    voa = (FIXTURES / "voa_like.html").read_text(encoding="utf-8")
    for html in (voa, form, page(inside="<!-- a note --><p>A paragraph after a comment.</p>")):
        ours, theirs = parse_html(html), load_html(html)
        assert ours is not None and theirs is not None
        assert etree.tostring(ours) == etree.tostring(theirs)
        # lxml.html's element API (text_content, drop_tree...) on every element, forms included.
        assert all(isinstance(e, HtmlElement) for e in ours.iter(etree.Element))


def test_plain_page_keeps_every_paragraph_and_drops_the_headline() -> None:
    result = extract_article(page(), URL)
    assert_full_body(result.text)
    assert HEADLINE not in result.text
    assert result.text.splitlines()[0] == BODY[0]


def test_headline_repeated_inside_the_body_is_dropped() -> None:
    # The headline as the body's first paragraph, as some templates print it.
    html = page().replace('<div class="story-body">',
                          f'<div class="story-body"><p><strong>{HEADLINE}</strong></p>')
    assert extract_article(html, URL).text.splitlines()[0] == BODY[0]


def test_link_only_paragraphs_are_teasers() -> None:
    teaser = "COUNTY APPROVES NEW BUDGET FOR ROADS AND SCHOOLS AFTER LONG DEBATE"
    html = page().replace(f"<p>{BODY[2]}</p>",
                          f'<p>{BODY[2]}</p><p><a href="/x"><strong>{teaser}</strong></a></p>')
    result = extract_article(html, URL)
    assert teaser not in result.text
    assert_full_body(result.text)


@pytest.mark.parametrize("address", ["http://www.openpetition.de", "www.millbrook-bridge.org",
                                     "bridge.consultation@millbrook.gov"])
def test_a_paragraph_that_is_only_an_address_is_no_teaser(address: str) -> None:
    # The petition or contact the article names: all link text, but the pruner keeps it (what
    # trafilatura then makes of it is trafilatura's call).
    tree = parse_html(page().replace(
        f"<p>{BODY[2]}</p>", f'<p>{BODY[2]}</p><p><a href="/petition">{address}</a></p>'))
    assert tree is not None
    prune_boilerplate(tree)
    assert address in [p.text_content() for p in tree.iter("p")]


def test_an_e_mail_address_paragraph_stays_in_the_text() -> None:
    address = "bridge.consultation@millbrook.gov"
    html = page().replace(f"<p>{BODY[2]}</p>",
                          f'<p>{BODY[2]}</p><p><a href="mailto:{address}">{address}</a></p>')
    assert address in extract_article(html, URL).text


def test_a_linked_attribution_ending_in_a_colon_is_kept() -> None:
    intro = "From the Millbrook Standard:"
    html = page().replace(f"<p>{BODY[3]}</p>",
                          f'<p>From the <a href="/s">Millbrook Standard</a>:</p><p>{BODY[3]}</p>')
    assert intro in extract_article(html, URL).text


# A menu of 200 entries, each a paragraph: ~7,000 characters, eight times the article's.
MENU_ITEMS = [f"Best Savings Accounts for Plan {i}" for i in range(200)]


def test_full_cascade_runs_when_the_fast_text_misses_most_of_the_prose() -> None:
    menu = "".join(f"<li><p>{item}</p></li>" for item in MENU_ITEMS)
    tree = parse_html(page(after=f"<ul>{menu}</ul>"))
    assert wants_full_cascade("\n".join(BODY), tree)


def test_paragraphs_inside_links_do_not_call_for_the_full_cascade() -> None:
    # The same menu, each entry a link: readability and jusText discount linked text, so it
    # cannot give them twice the article.
    menu = "".join(f'<li><a href="/m{i}"><p>{item}</p></a></li>' for i, item in enumerate(MENU_ITEMS))
    tree = parse_html(page(after=f"<ul>{menu}</ul>"))
    assert not wants_full_cascade("\n".join(BODY), tree)


def test_a_link_within_a_paragraph_leaves_the_rest_of_it_prose() -> None:
    linked = "".join(f'<p>{p} See <a href="/more">the council minutes</a> for more.</p>' for p in BODY)
    tree = parse_html(page(after=f"<section>{linked * 2}</section>"))
    assert wants_full_cascade("\n".join(BODY), tree)


def test_a_fast_text_under_the_minimum_calls_for_the_full_cascade_even_if_it_is_all_the_prose() -> None:
    tree = parse_html(f"<html><body><article><p>{BODY[0]}</p></article></body></html>")
    assert wants_full_cascade(BODY[0], tree)


def test_text_outside_paragraphs_calls_for_the_full_cascade() -> None:
    # A page whose text sits in divs and line breaks (a forum, a list of tips): the paragraph
    # text is the article alone, but the body holds four times as much.
    posts = "".join(f"<div class='post'>{p}<br>{p}</div>" for p in BODY * 2)
    tree = parse_html(page(after=f"<section>{posts}</section>"))
    assert wants_full_cascade("\n".join(BODY), tree)


def test_linked_text_outside_paragraphs_does_not_call_for_the_full_cascade() -> None:
    menu = "".join(f'<div><a href="/m{i}">{item}</a></div>' for i, item in enumerate(MENU_ITEMS))
    tree = parse_html(page(after=f"<nav>{menu}</nav>"))
    assert not wants_full_cascade("\n".join(BODY), tree)


def test_a_fast_text_from_trafilaturas_fallbacks_calls_for_the_full_cascade() -> None:
    tree = parse_html(page())
    text = "\n".join(BODY)
    assert not wants_full_cascade(text, tree, main_chars=len(text))
    # Its main extractor found a fifth of it; the rest came from its baseline or recall retry.
    assert wants_full_cascade(text, tree, main_chars=len(text) // 5)


def test_the_main_extractors_text_is_recorded_for_the_gate() -> None:
    # trafilatura's main extractor is wrapped to record its text (a new trafilatura without
    # the function would turn this part of the gate off: this test says so).
    tree = parse_html(page())
    assert tree is not None
    _MAIN_TEXT.arm()
    text = _bare_extraction(tree, URL, fast=True, tables=False)
    main_chars = _MAIN_TEXT.take()
    assert main_chars is not None and BODY[0] in text
    assert len(text) * 0.9 <= main_chars <= len(text) * 1.1
    # Unarmed, another extraction (the bench's reference one) records nothing.
    _bare_extraction(tree, URL, fast=True, tables=False)
    assert _MAIN_TEXT.take() is None


def test_the_body_measure_agrees_with_its_count_and_counts_only_when_the_bound_cannot_decide(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Text in divs among deep indentation and links, so that the whole text (the bound) and
    # the text outside links, stripped (the count), are far apart.
    posts = "".join(f"<div>\n      {p}\n      <a href='/p'>  {p[:40]}  </a>\n    </div>\n"
                    for p in BODY)
    tree = parse_html(page(after=f"<section>{posts}</section>"))
    assert tree is not None
    exact = body_text_chars(tree)
    bound = sum(len("".join(body.itertext())) for body in tree.iter("body"))
    assert exact < bound
    for length in (0, 499, int(0.3 * exact) - 1, int(0.3 * exact), int(0.3 * exact) + 1,
                   int(0.3 * bound) - 1, int(0.3 * bound), 10 * bound):
        assert BodyChars(tree).exceeds(length, 0.3) == (length < 0.3 * exact), length
    counted: list[int] = []

    def counting(tree: HtmlElement) -> int:
        counted.append(1)
        return exact

    monkeypatch.setattr(body_module, "body_text_chars", counting)
    measure = BodyChars(tree)
    assert not measure.exceeds(0.3 * bound, 0.3)
    assert not counted  # the bound decided
    assert measure.exceeds(0.3 * exact - 1, 0.3)
    assert measure.exceeds(0.2 * exact, 0.3) and not measure.exceeds(0.3 * exact, 0.3)
    assert len(counted) == 1  # counted once, then kept


AUTHOR_MARKUP = [
    '<span class="byline">By Jane Doe</span>',
    '<div class="c-AuthorName">Jane Doe</div>',
    '<p id="authorBox">Jane Doe</p>',
    '<a rel="author" href="/jane">Jane Doe</a>',
    '<span itemprop="author name">Jane Doe</span>',
    '<div data-testid="AuthorCard">Jane Doe</div>',
    '<div data-component="Byline">Jane Doe</div>',
    '<span class="writer">Jane Doe</span>',
    '<div class="zuozhe">Jane Doe</div>',
    "<author>Jane Doe</author>",
    "<span><rel>me</rel>Jane Doe</span>",
]


@pytest.mark.parametrize("markup", AUTHOR_MARKUP)
def test_a_page_with_author_markup_goes_to_trafilaturas_author_search(markup: str) -> None:
    from trafilatura.metadata import extract_author

    tree = parse_html(page(inside=markup))
    assert tree is not None
    assert may_name_author(tree)
    # The markup is of the kind trafilatura's own search finds (all but the <rel> child, which
    # it reads only as text 'me'), so the shortcut is not what finds it.
    if "<rel>" not in markup:
        assert extract_author(tree) == "Jane Doe"


def test_a_page_without_author_markup_skips_trafilaturas_author_search() -> None:
    from trafilatura.metadata import extract_author

    tree = parse_html(page(inside='<div class="meta"><span class="date">1 March</span></div>'))
    assert tree is not None
    assert not may_name_author(tree)
    assert extract_author(tree) is None


def test_scripts_and_styles_go_before_extraction_but_json_ld_stays() -> None:
    tree = parse_html(
        '<html><head><script type="application/ld+json">{"@type": "NewsArticle"}</script>'
        "<style>p {color: red}</style></head><body><p>Council<script>track('vote')</script> "
        '<a href="/v">votes</a><script src="/a.js"></script> to rebuild</p>'
        '<script type="text/javascript">window.ads = 1;</script></body></html>'
    )
    assert tree is not None
    drop_scripts(tree)
    assert [e.get("type") for e in tree.iter("script")] == ["application/ld+json"]
    assert next(tree.iter("style"), None) is None
    # Their tails stay, blank ones too: the words on either side are not run together.
    assert tree.find(".//p").text_content() == "Council votes to rebuild"


def test_embedded_tweet_is_dropped() -> None:
    tweet = ('<blockquote class="twitter-tweet"><p>Big night at the council, bridge is a go! '
             'pic.twitter.com/abc</p>&mdash; Resident (@resident) March 1, 2024</blockquote>')
    result = extract_article(page(inside=tweet), URL)
    assert "bridge is a go" not in result.text
    assert_full_body(result.text)


def test_hidden_elements_are_dropped() -> None:
    # Not rendered, so not read: a lightbox or a notice meant for other visitors.
    box = ('<div hidden="hidden"><p>Members can save this story and come back to it later from '
           'any of their devices, along with every other article they have marked.</p></div>')
    html = page().replace(f"<p>{BODY[2]}</p>", f"<p>{BODY[2]}</p>{box}")
    result = extract_article(html, URL)
    assert "Members can save" not in result.text
    assert_full_body(result.text)


def test_complementary_role_is_dropped() -> None:
    box = ('<div role="complementary"><p>Our guide to the town\u2019s other bridges explains how each '
           'of them came to be built, and which of them are next in line for repairs.</p></div>')
    html = page().replace(f"<p>{BODY[2]}</p>", f"<p>{BODY[2]}</p>{box}")
    result = extract_article(html, URL)
    assert "other bridges" not in result.text
    assert_full_body(result.text)


def test_more_from_teaser_block_is_dropped() -> None:
    block = ('<section class="collections"><h2>More from the Gazette</h2>'
             '<div><h3><a href="/a">Library hours extended for the summer</a></h3>'
             '<p>The town library will open late on Thursdays from June to September, the '
             'council said in a statement.</p></div>'
             '<div><h3><a href="/b">Farmers market returns to the square</a></h3>'
             '<p>Stalls selling local produce will return to the market square every Saturday '
             'morning from next month.</p></div></section>')
    result = extract_article(page(inside=block), URL)
    assert "More from" not in result.text
    assert "Library hours" not in result.text and "Stalls selling" not in result.text
    assert_full_body(result.text)


@pytest.mark.parametrize("label", ['class="promo-card"', 'class="image-caption"',
                                   'class="author-bio"', 'id="recommended-stories"',
                                   'class="sr-only"'])
def test_boilerplate_class_words(label: str) -> None:
    box = (f"<div {label}><p>Elsewhere in the Gazette this week: a long read on the history "
           "of the mill that gave the town its name, and how it came to close.</p></div>")
    result = extract_article(page(inside=box), URL)
    assert "Elsewhere in the Gazette" not in result.text
    assert_full_body(result.text)


def test_a_mislabelled_wrapper_holding_the_article_is_kept() -> None:
    # "promo" on the article's own wrapper must not take the article with it.
    html = page().replace('<div class="story-body">', '<div class="story-body promo-enabled">')
    assert_full_body(extract_article(html, URL).text)


def test_figure_caption_and_credit_are_dropped() -> None:
    figure = ('<figure><img src="/b.jpg" alt=""><figcaption>The old bridge at dusk. '
              'Photograph: Sam Lee</figcaption></figure>')
    html = page().replace(f"<p>{BODY[1]}</p>", f"{figure}<p>{BODY[1]}</p>")
    result = extract_article(html, URL)
    assert "old bridge at dusk" not in result.text
    assert_full_body(result.text)


def test_author_bio_from_json_ld_is_dropped() -> None:
    bio = ("Alex Rivers is a reporter for the Millbrook Gazette covering local government, "
           "transport and the environment.")
    head = ('<script type="application/ld+json">' + json.dumps({
        "@context": "https://schema.org", "@type": "NewsArticle", "headline": HEADLINE,
        "author": {"@type": "Person", "name": "Alexandra Rivers", "description": bio},
    }) + "</script>")
    result = extract_article(page(inside=f"<p><em>{bio}</em></p>", head=head), URL)
    assert "is a reporter for" not in result.text
    assert_full_body(result.text)


def test_author_bio_by_surname_is_dropped() -> None:
    bio = "Sam Okafor has covered Millbrook for the Gazette since 2015. Send tips to sam@example."
    head = '<meta name="author" content="Sam Okafor">'
    result = extract_article(page(inside=f"<p>{bio}</p>", head=head), URL)
    assert "has covered Millbrook" not in result.text
    assert result.authors == ["Sam Okafor"]


def test_json_ld_article_body_is_used_when_the_page_shows_almost_nothing() -> None:
    # A script-rendered page: the HTML body is an empty shell, the record holds the article.
    record = {"@context": "https://schema.org", "@type": "NewsArticle", "headline": HEADLINE,
              "articleBody": "\n".join(BODY)}
    html = (f'<html lang="en"><head><title>{HEADLINE}</title>'
            f'<script type="application/ld+json">{json.dumps(record)}</script></head>'
            '<body><div id="root"><p>Loading…</p></div></body></html>')
    result = extract_article(html, URL)
    assert result.text.splitlines() == BODY


def test_json_ld_article_body_does_not_replace_a_good_extraction() -> None:
    record = {"@context": "https://schema.org", "@type": "NewsArticle", "headline": HEADLINE,
              "articleBody": "Only the first post of a live blog."}
    html = page(head=f'<script type="application/ld+json">{json.dumps(record)}</script>')
    assert_full_body(extract_article(html, URL).text)


def test_clean_lines_drops_byline_dateline_credit_promo_and_separators() -> None:
    raw = "\n".join([
        HEADLINE, "By Alex Rivers and Sam Okafor", "Published March 1, 2024 at 9:15 a.m. EST",
        BODY[0], "___", "Photo: Sam Lee/Gazette", BODY[1], "READ MORE: Bridge costs explained",
        "Sign up for our morning newsletter", BODY[2],
    ])
    lines = clean_lines(raw, {HEADLINE}, ["Alex Rivers", "Sam Okafor"], [])
    assert lines == BODY[:3]


def test_clean_lines_keeps_a_sentence_that_starts_with_by() -> None:
    line = "By the time the vote was called, most residents had gone home. The hall was empty."
    assert clean_lines("\n".join([line, BODY[0]]), set(), [], []) == [line, BODY[0]]



@pytest.mark.parametrize("closing", [
    ["© 2024 Millbrook Gazette Media Group"],
    ["Copyright 2024 The Associated Press. All rights reserved."],
    ["Mehr Themen:"],
    ["Lue seuraavaksi:"],
    ["Quellen:", "Copyright: Gazette photo desk"],
])
def test_clean_lines_drops_closing_copyright_notices_and_dangling_labels(closing: list[str]) -> None:
    assert clean_lines("\n".join([*BODY[:2], *closing]), set(), [], []) == BODY[:2]



@pytest.mark.parametrize("dateline", ["23.10.2018", "1. 2. 2024, 14:30 Uhr", "03.01.24 09:15"])
def test_clean_lines_drops_a_leading_day_month_year_dateline(dateline: str) -> None:
    assert clean_lines("\n".join([dateline, *BODY[:2]]), set(), [], []) == BODY[:2]



def test_clean_lines_drops_a_leading_line_of_fields_one_of_them_a_date() -> None:
    meta = "January 13, 2020 at 08:45 AM | categories: Council, Bridges | View Comments"
    assert clean_lines("\n".join([meta, *BODY[:2]]), set(), [], []) == BODY[:2]
    # Fields without a date are no dateline; mid-text, a dated line of fields stays.
    table = "Votes | five to two"
    assert clean_lines("\n".join([table, BODY[0]]), set(), [], []) == [table, BODY[0]]
    lines = [BODY[0], "2021-10-16 | Vote", BODY[1]]
    assert clean_lines("\n".join(lines), set(), [], []) == lines

def test_clean_lines_drops_a_picture_credit_opening_with_the_copyright_sign() -> None:
    raw = "\n".join([BODY[0], "© Oli Scarff/Getty Images", BODY[1]])
    assert clean_lines(raw, set(), [], []) == BODY[:2]
    # A sentence that only mentions the sign is text.
    line = "The logo, a © inside a circle, was registered by the council in 1998 after a long dispute."
    assert clean_lines("\n".join([BODY[0], line, BODY[1]]), set(), [], []) == [BODY[0], line, BODY[1]]

def test_clean_lines_keeps_closing_lines_that_are_text() -> None:
    closing = [
        # A colon ending a sentence of more than a few words introduces what follows in the body.
        "The full report from the council can be found here:",
        # Copyright as the topic of a paragraph, not a notice (over the notice length).
        "The dispute turned on copyright: " + "the band argued that the sample was theirs, " * 9
        + "and the court agreed.",
    ]
    for line in closing:
        assert clean_lines("\n".join([BODY[0], line]), set(), [], []) == [BODY[0], line]
    # Mid-text, a label and a notice stay: only the closing lines are furniture.
    lines = [BODY[0], "Quellen:", "Copyright 2024 Gazette", BODY[1]]
    assert clean_lines("\n".join(lines), set(), [], []) == lines
    # A text that is nothing but such a line is left to the emptiness checks downstream.
    assert clean_lines("Copyright 2024 Gazette", set(), [], []) == ["Copyright 2024 Gazette"]

# --- metadata ------------------------------------------------------------------------------------


def test_json_ld_wins_over_open_graph_and_html_entities_are_decoded() -> None:
    head = ('<meta property="og:title" content="Bridge vote: what happened | Gazette">'
            '<script type="application/ld+json">{"@context": "https://schema.org", '
            '"@graph": [{"@type": "WebPage", "name": "Gazette"}, {"@type": "NewsArticle", '
            '"headline": "Council&#8217;s Bridge Vote", "datePublished": "2024-03-01T09:15:00Z",'
            ' "keywords": "bridges, council, Millbrook", "inLanguage": "en-GB", "liveBlogUpdate":'
            ' [{"@type": "BlogPosting", "headline": "Update one"}]}]}</script>')
    result = extract_article(page(head=head), URL)
    assert result.title == "Council\u2019s Bridge Vote"
    assert result.published_at == datetime(2024, 3, 1, 9, 15, tzinfo=UTC)
    assert result.tags == ["bridges", "council", "Millbrook"]
    assert result.language == "en"


def test_open_graph_and_meta_tags_when_there_is_no_json_ld() -> None:
    head = ('<meta property="og:title" content="Bridge Vote Passes">'
            '<meta property="og:description" content="The council approved the plan.">'
            '<meta property="og:image" content="https://cdn.example.org/b.jpg">'
            '<meta property="article:published_time" content="2024-03-01T09:15:00+01:00">'
            '<meta property="article:tag" content="bridges">'
            '<meta property="article:tag" content="council">'
            '<meta name="author" content="By ALEX RIVERS and Sam Okafor">')
    result = extract_article(page(head=head), URL)
    assert result.title == "Bridge Vote Passes"
    assert result.description == "The council approved the plan."
    assert result.image == "https://cdn.example.org/b.jpg"
    assert result.published_at == datetime(2024, 3, 1, 8, 15, tzinfo=UTC)
    assert result.published_at.tzinfo is not None
    assert result.tags == ["bridges", "council"]
    assert result.authors == ["Alex Rivers", "Sam Okafor"]


def test_a_generic_staff_author_loses_to_a_named_one() -> None:
    head = ('<meta property="article:author" content="Alex Rivers">'
            '<script type="application/ld+json">{"@context": "https://schema.org", '
            '"@type": "NewsArticle", "headline": "x", '
            '"author": {"@type": "Person", "name": "Gazette staff reporter"}}</script>')
    assert extract_article(page(head=head), URL).authors == ["Alex Rivers"]


@pytest.mark.parametrize(("raw", "expected"), [
    (["By Alex Rivers"], ["Alex Rivers"]),
    (["Alex Rivers, Sam Okafor and Lee Chan"], ["Alex Rivers", "Sam Okafor", "Lee Chan"]),
    (["Alex Rivers; alex rivers", "https://example.org/authors/alex"], ["Alex Rivers"]),
    (["Rivers, Alex"], ["Rivers, Alex"]),
])
def test_split_authors(raw: list[str], expected: list[str]) -> None:
    assert split_authors(raw) == expected


@pytest.mark.parametrize(("raw", "expected"), [
    ("2024-03-01T09:15:00Z", datetime(2024, 3, 1, 9, 15, tzinfo=UTC)),
    ("2024-03-01T09:15:00", datetime(2024, 3, 1, 9, 15, tzinfo=UTC)),
    ("Fri, 01 Mar 2024 09:15:00 +0000", datetime(2024, 3, 1, 9, 15, tzinfo=UTC)),
    ("2024-03-01 09:15:00 -0500", datetime(2024, 3, 1, 14, 15, tzinfo=UTC)),
    ("not a date", None),
])
def test_parse_datetime_is_timezone_aware(raw: str, expected: datetime | None) -> None:
    parsed = parse_datetime(raw)
    assert parsed == expected
    if parsed is not None:
        assert parsed.tzinfo is not None


def test_language_is_detected_when_the_page_does_not_say() -> None:
    pytest.importorskip("py3langid")
    result = extract_article(page(lang=""), URL)
    assert result.language == "en"


# --- contract ------------------------------------------------------------------------------------


def test_result_is_picklable_and_serialisable() -> None:
    result = extract_article(page(), URL)
    again = pickle.loads(pickle.dumps(result))
    assert again == result
    record = result.to_json()
    json.dumps(record)
    assert set(record) == {"text", "title", "authors", "published_at", "language",
                           "description", "image", "tags", "canonical_url", "marked_article",
                           "marked_other"}


@pytest.mark.parametrize("html", ["", "   ", b"\x00\xff\xfe", "<html></html>", "just text",
                                  "<p>one</p>"])
def test_bad_input_gives_an_empty_record(html: str | bytes) -> None:
    result = extract_article(html, URL)
    assert isinstance(result, Extracted)
    assert not result.looks_like_article


# --- the benchmark's scorer ------------------------------------------------------------------


def test_scorer_optional_paragraphs_are_neither_missed_nor_extra() -> None:
    truth = [BODY[0], f"[{BODY[1]}]", BODY[2]]
    without = "\n".join([BODY[0], BODY[2]])
    with_it = "\n".join([BODY[0], BODY[1], BODY[2]])
    assert score_page(truth, without).precision == pytest.approx(1.0)
    assert score_page(truth, without).recall == pytest.approx(1.0)
    assert score_page(truth, with_it).precision == pytest.approx(1.0)
    # The dataset README's method counts the bracketed paragraph as required.
    assert score_page(truth, without, optional=False).recall < 1.0


def test_scorer_counts_extra_and_missing_text() -> None:
    truth = BODY[:2]
    extra = score_page(truth, "\n".join([*BODY[:2], BODY[4]]))
    missing = score_page(truth, BODY[0])
    assert extra.precision < 1.0 and extra.recall == pytest.approx(1.0)
    assert missing.recall < 1.0 and missing.precision == pytest.approx(1.0)
    summary = summarize([extra, missing])
    assert 0 < summary.f1 < 1
    assert score_page(truth, "nothing in common here at all").recall == 0.0



def test_snippet_scorer_pools_found_and_leaked_snippets_over_pages() -> None:
    text = "Intro sentence here. The body goes on. Final words."
    page = score_snippets(["Intro sentence", "Final words.", "Not there"], ["Impressum", "body goes"],
                          text)
    assert (page.tp, page.fn, page.fp, page.tn) == (2, 1, 1, 1)
    assert page.f1 == pytest.approx(4 / 6)
    perfect = score_snippets(["Intro"], ["Menu"], text)
    summary = summarize_snippets([page, perfect])
    assert summary.precision == pytest.approx(3 / 4)  # pooled: 3 found, 1 leaked
    assert summary.recall == pytest.approx(3 / 4)
    assert score_snippets(["a"], [], "").f1 == 0.0

def test_a_page_that_declares_another_type_is_not_an_article() -> None:
    prose = "<p>" + "We are a newsroom of forty people covering the city and its region. " * 12 + "</p>"
    about = f'<html><head><meta property="og:type" content="website"></head><body>{prose}</body></html>'
    plain = f"<html><body><article>{prose}</article></body></html>"
    assert not extract_article(about, "https://example.org/about.html").looks_like_article
    assert extract_article(plain, "https://example.org/story.html").looks_like_article


def test_a_listing_vouches_for_a_page_unless_it_names_another_type_and_has_little_text() -> None:
    sentence = "The display was seen from the harbour. "
    short, long = sentence * 4, sentence * 12  # about 160 and 470 characters
    video = Extracted(text=short, marked_other=True)
    assert not video.is_article(listed=True)
    assert Extracted(text=long, marked_other=True).is_article(listed=True)
    assert Extracted(text=short).is_article(listed=True), "a page that names no type: the listing decides"
    assert Extracted(text=short, marked_article=True).is_article(listed=True)
    assert not Extracted(text=short).is_article(listed=False)
    assert Extracted(text=long).is_article(listed=False)


# --- rules that keep news-specific pruning off other pages ----------------------------------

NEWS_LD = ('<script type="application/ld+json">{"@context": "https://schema.org", '
           '"@type": "NewsArticle", "headline": "' + HEADLINE + '"}</script>')
RECIPE_TABLE = ("<table><tr><th>Ingredient</th><th>Amount</th></tr>"
                "<tr><td>Ground almonds, blanched and finely sifted</td><td>200 grams</td></tr>"
                "<tr><td>Caster sugar, the finest you can find</td><td>150 grams</td></tr></table>")


def test_a_table_is_content_on_a_page_that_is_no_news_story() -> None:
    text = extract_article(page(inside=RECIPE_TABLE), URL).text
    assert "Ground almonds, blanched and finely sifted" in text
    assert_full_body(text)


def test_a_table_in_a_news_story_is_a_data_box() -> None:
    text = extract_article(page(inside=RECIPE_TABLE, head=NEWS_LD), URL).text
    assert "Ground almonds" not in text
    assert_full_body(text)


def test_a_read_more_expander_keeps_the_text_it_folds() -> None:
    folded = ("The second half of the report, which the council published on Friday, sets out "
              "how the work will be phased so that the crossing never closes for longer than a week.")
    html = page(inside=f'<div class="js_readmore"><p>{folded}</p></div>')
    assert folded in extract_article(html, URL).text


def test_the_pruning_guard_takes_the_unpruned_text_only_when_clearly_longer() -> None:
    html = page()
    full = _unless_unpruned_is_longer("", html, URL, tables=False)
    assert_full_body(full)
    almost = "\n".join(BODY[:-1]) + "\n" + BODY[-1][:-20]
    assert _unless_unpruned_is_longer(almost, html, URL, tables=False) == almost
    assert _unless_unpruned_is_longer("kept", "", URL, tables=False) == "kept"


def test_the_news_type_is_read_from_json_ld() -> None:
    assert read_metadata(parse_html(page(head=NEWS_LD)), URL).marked_news
    blog = NEWS_LD.replace("NewsArticle", "BlogPosting")
    assert not read_metadata(parse_html(page(head=blog)), URL).marked_news
