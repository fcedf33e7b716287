"""The standfirst: the lead paragraph under the headline, found by the page's own description."""

from __future__ import annotations

from pipelines.extraction.article import extract_article, parse_html
from pipelines.extraction.body import normalise
from pipelines.extraction.standfirst import lone_prose_before_body, standfirst

URL = "https://news.example.org/2024/03/01/harbour-ferry.html"
HEADLINE = "Harbour Ferry Returns After Two Winters in Dry Dock"
STANDFIRST = ("The town's only ferry crossed the bay again on Monday, two winters after a storm "
              "tore its rudder loose, and its first passengers were the schoolchildren who had "
              "raised money for the repairs.")
BODY = [
    "Crowds lined the quay at Eastport from seven in the morning, when the ferry sounded its horn "
    "and pulled away from the mooring where it had sat since the storm of two years ago.",
    "The repairs cost the harbour trust a little under a million dollars, a third of it raised by "
    "residents through bake sales, sponsored swims and a raffle run by the primary school.",
    "The trust says the ferry will run every hour from six until nine, with a late crossing on "
    "Fridays and Saturdays, and that fares will stay at what they were before the storm.",
    "Fishermen on the far side of the bay, who had driven two hours round the coast to reach the "
    "market, said the crossing would give them back most of their working morning.",
]


def page(description: str = STANDFIRST, lead: str = STANDFIRST, before_headline: str = "") -> str:
    """A page whose standfirst sits in the article's header, apart from the body's container."""
    paragraphs = "\n".join(f"<p>{p}</p>" for p in BODY)
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>{HEADLINE} | Eastport Herald</title>
<meta property="og:description" content="{description}"></head>
<body><header><a href="/">Eastport Herald</a>{before_headline}</header>
<main><div class="article-header"><h1>{HEADLINE}</h1>
<div class="intro-text"><p>{lead}</p></div>
<span class="byline">Jo Marsh</span></div>
<div class="story-body">{paragraphs}</div></main>
<footer><p>Eastport Herald, 4 Quay Street.</p></footer></body></html>"""


def test_the_standfirst_named_by_the_description_opens_the_text_once() -> None:
    text = extract_article(page(), URL).text
    lines = text.splitlines()
    assert lines[0] == STANDFIRST
    assert text.count(STANDFIRST) == 1
    assert lines[1:] == BODY


def test_a_description_cut_short_still_finds_the_whole_standfirst() -> None:
    cut = STANDFIRST[:90].rsplit(" ", 1)[0] + "..."
    tree = parse_html(page(description=cut))
    assert tree is not None
    assert standfirst(tree, cut, {HEADLINE}, normalise(" ".join(BODY))) == STANDFIRST


def test_a_standfirst_opening_in_bold_is_found_from_its_first_words() -> None:
    lead = "<strong>EASTPORT.</strong> " + STANDFIRST
    description = "Eastport. " + STANDFIRST
    tree = parse_html(page(description=description, lead=lead))
    assert tree is not None
    assert standfirst(tree, description, {HEADLINE}, "") == "EASTPORT. " + STANDFIRST


def test_a_standfirst_already_in_the_text_is_not_added_again() -> None:
    tree = parse_html(page())
    assert tree is not None
    assert standfirst(tree, STANDFIRST, {HEADLINE}, normalise(STANDFIRST + " " + BODY[0])) is None


def test_a_description_that_is_the_headline_names_no_standfirst() -> None:
    # The element it would find is the headline's own box, not a lead.
    tree = parse_html(page(description=HEADLINE + " by Jo Marsh", lead=HEADLINE + " by Jo Marsh"))
    assert tree is not None
    assert standfirst(tree, HEADLINE + " by Jo Marsh", {HEADLINE}, "") is None


def test_the_sites_tagline_before_the_headline_is_no_standfirst() -> None:
    tagline = ("News, weather and ferry times for Eastport and the bay, from the town's own "
               "newspaper since 1888")
    html = page(description=tagline, before_headline=f"<p>{tagline}</p>")
    tree = parse_html(html)
    assert tree is not None
    assert standfirst(tree, tagline, {HEADLINE}, "") is None
    assert tagline not in extract_article(html, URL).text


def test_a_short_description_names_no_standfirst() -> None:
    # A few words open too many headings and captions the same way.
    tree = parse_html(page(description="The ferry is back", lead="The ferry is back"))
    assert tree is not None
    assert standfirst(tree, "The ferry is back", {HEADLINE}, "") is None


# --- without a description that names it: the one block of prose between headline and body ----

NO_DESCRIPTION = {"description": "Ferry times, tides and news from Eastport, every day since 1888"}


def test_the_lone_paragraph_between_headline_and_body_opens_the_text() -> None:
    text = extract_article(page(**NO_DESCRIPTION), URL).text
    assert text.splitlines() == [STANDFIRST, *BODY]


def test_two_paragraphs_between_headline_and_body_are_not_a_standfirst() -> None:
    teaser = ("Also this week: the harbour trust's accounts, a new timetable for the bus to the "
              "station, and the winners of the school's spring art competition.")
    html = page(**NO_DESCRIPTION).replace('<span class="byline">', f"<p>{teaser}</p><span>")
    text = extract_article(html, URL).text
    assert STANDFIRST not in text and teaser not in text
    assert text.splitlines() == BODY


def test_a_linked_teaser_between_headline_and_body_is_not_a_standfirst() -> None:
    html = page(**NO_DESCRIPTION).replace(f"<p>{STANDFIRST}</p>",
                                          f'<p><a href="/ferry">{STANDFIRST}</a></p>')
    tree = parse_html(html)
    assert tree is not None
    assert lone_prose_before_body(tree, BODY[0], normalise(" ".join(BODY))) is None


def test_a_walk_that_never_reaches_the_body_takes_nothing() -> None:
    tree = parse_html(page(**NO_DESCRIPTION))
    assert tree is not None
    assert lone_prose_before_body(tree, "A first line found nowhere on the page", "") is None
