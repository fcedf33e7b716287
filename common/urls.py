"""Canonical URLs: one spelling per page, so that one article is fetched and stored once."""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import urlsplit

from courlan import normalize_url
from w3lib.url import canonicalize_url

_SCHEMES = ("http", "https")
_WWW = re.compile(r"^www\d?\.")


# An article's URL is canonicalized when it is listed, then again, spelled the same, when its
# response comes back, when its page names itself canonical and as the alias it was fetched
# under: the repeats are looked up. Between its response and its store, an article waits
# behind at most the pages in the scraper slot, a few dozen; so a small cache is enough.
@lru_cache(maxsize=1024)
def canonicalize(url: str) -> str | None:
    """The canonical form of an absolute http(s) URL, or None for one that is not usable.

    courlan drops tracking parameters (utm_*, fbclid, gclid, ...), default ports and the
    host's case; w3lib then fixes percent-encoding, sorts the query, resolves dot
    segments and drops the fragment.
    """
    url = url.strip()
    try:
        if urlsplit(url).scheme.lower() not in _SCHEMES:
            return None
        return canonicalize_url(normalize_url(url, strict=False), keep_fragments=False)
    except (ValueError, TypeError, UnicodeError):
        # Odd links (broken IPv6 hosts, bad ports, undecodable bytes) are skipped, not fatal.
        return None


def host_of(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def site_key(host: str) -> str:
    """A host without its www. prefix: www.example.org and example.org are one site."""
    return _WWW.sub("", host.lower())


def on_domains(url: str, domains: frozenset[str]) -> bool:
    """Whether the URL's host is one of `domains` or a subdomain of one."""
    host = site_key(host_of(url))
    return any(host == d or host.endswith("." + d) for d in domains)
