"""How long a stored field may be: what a hostile or broken page cannot make newsmill store.

A page may carry a 5 MiB <title>, ten thousand keywords or a data: URL for its image. Text
fields are cut at a word boundary and marked with an ellipsis; a list keeps its first items;
a URL over the limit is dropped, as a cut one would point nowhere. The body text is bounded by
the download size limit (crawl.max_page_size) instead.
"""

from __future__ import annotations

import dataclasses

from pipelines.extraction.extracted import Extracted

TITLE_CHARS = 500
DESCRIPTION_CHARS = 2000
NAME_CHARS = 200  # one author, one tag
MAX_AUTHORS = 20
MAX_TAGS = 50
URL_CHARS = 2083  # Scrapy's URLLENGTH_LIMIT, as browsers have it


def cap_text(value: str | None, limit: int) -> str | None:
    if value is None or len(value) <= limit:
        return value
    cut = value[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:.-") + "…"


def cap_names(values: list[str], count: int) -> list[str]:
    return [name for v in values[:count] if (name := cap_text(v, NAME_CHARS))]


def cap_url(value: str | None) -> str | None:
    return value if value is None or len(value) <= URL_CHARS else None


def capped(extracted: Extracted) -> Extracted:
    """The record with every field within its limit."""
    return dataclasses.replace(
        extracted,
        title=cap_text(extracted.title, TITLE_CHARS),
        description=cap_text(extracted.description, DESCRIPTION_CHARS),
        authors=cap_names(extracted.authors, MAX_AUTHORS),
        tags=cap_names(extracted.tags, MAX_TAGS),
        image=cap_url(extracted.image),
        canonical_url=cap_url(extracted.canonical_url),
    )
