"""Canonical URLs: every spelling of one page becomes one string; odd links become None."""

from __future__ import annotations

import pytest

from common.urls import canonicalize, on_domains

CANONICAL = "https://news.example.org/2024/03/05/story.html"


@pytest.mark.parametrize(
    "spelling",
    [
        CANONICAL,
        "https://NEWS.Example.org/2024/03/05/story.html",
        "https://news.example.org:443/2024/03/05/story.html",
        "https://news.example.org/2024/03/05/story.html#comments",
        "https://news.example.org/2024/03/05/story.html?utm_source=rss&utm_medium=feed",
        "https://news.example.org/2024/03/05/story.html?fbclid=IwAR0abc&gclid=xyz",
        "https://news.example.org/2024/03/../03/05/story.html",
        "  https://news.example.org/2024/03/05/story.html  ",
    ],
)
def test_spellings_of_one_page_share_one_canonical_url(spelling: str) -> None:
    assert canonicalize(spelling) == CANONICAL


def test_meaningful_query_parameters_are_kept_and_sorted() -> None:
    url = "https://example.org/story?page=2&id=7&utm_campaign=x"
    assert canonicalize(url) == "https://example.org/story?id=7&page=2"


def test_percent_encoding_is_normalised() -> None:
    assert canonicalize("https://example.org/caf%c3%a9") == canonicalize("https://example.org/café")


@pytest.mark.parametrize(
    "odd", ["javascript:void(0)", "mailto:desk@example.org", "http://[::1", "ftp://example.org/x", ""]
)
def test_odd_links_are_refused_not_raised(odd: str) -> None:
    assert canonicalize(odd) is None


def test_subdomains_count_as_the_source_site() -> None:
    domains = frozenset({"example.org"})
    assert on_domains("https://www.example.org/a", domains)
    assert on_domains("https://news.example.org/a", domains)
    assert not on_domains("https://example.org.evil.net/a", domains)
    assert not on_domains("https://notexample.org/a", domains)
