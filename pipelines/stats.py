"""The names under which newsmill counts a crawl in Scrapy's stats, and reads them back."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from scrapy.statscollectors import StatsCollector

if TYPE_CHECKING:
    from pipelines.extraction.extracted import Extracted

PAGES = "newsmill/pages"
NEW = "newsmill/new"
DUPLICATES = "newsmill/duplicates"
SKIPPED = "newsmill/skipped/"
ERRORS = "newsmill/errors/"
# Re-fetched stored articles whose text changed, kept as a new revision (counted among the
# duplicates too: the article was stored already).
REVISED = "newsmill/revised"
# Extraction quality, for source health: articles extracted with text, how many had each
# field, and their body lengths as a histogram (a bounded set of keys, whatever the run's size).
EXTRACTED = "newsmill/extracted"
FILLED = "newsmill/filled/"
LENGTHS = "newsmill/body_length/"
NO_TEXT = "no article text"  # the skip reason of a page with no article text
FIELDS = ("title", "authors", "published_at", "language", "image")
_BUCKET = math.log(1.05)  # histogram buckets 5% wide: the median is known within 2.5%
STATUS = "newsmill/status"  # the crawl-run status, set when the crawl closes
ERROR = "newsmill/error"  # why a failed crawl failed


def skip(stats: StatsCollector | None, reason: str) -> None:
    if stats is not None:
        stats.inc_value(SKIPPED + reason)


def error(stats: StatsCollector | None, reason: str) -> None:
    if stats is not None:
        stats.inc_value(ERRORS + reason)


def extracted(stats: StatsCollector | None, article: Extracted) -> None:
    """Count one article's fields and body length towards the run's extraction stats."""
    if stats is None:
        return
    stats.inc_value(EXTRACTED)
    for name in FIELDS:
        if getattr(article, name):
            stats.inc_value(FILLED + name)
    stats.inc_value(f"{LENGTHS}{int(math.log(max(len(article.text), 1)) / _BUCKET)}")


def _median_length(values: dict[str, Any]) -> int | None:
    buckets = sorted(
        (int(k.removeprefix(LENGTHS)), int(v)) for k, v in values.items() if k.startswith(LENGTHS)
    )
    total = sum(n for _, n in buckets)
    seen = 0
    for bucket, n in buckets:
        seen += n
        if 2 * seen >= total:
            return round(math.exp((bucket + 0.5) * _BUCKET))  # the bucket's middle
    return None


def extraction(values: dict[str, Any]) -> dict[str, Any]:
    """A run's extraction stats, as counts that add up across runs: article pages, those with
    no article text, articles extracted, how many had each field, and their median body length
    (None without articles)."""
    return {
        "pages": int(values.get(PAGES, 0)),
        "no_text": int(values.get(SKIPPED + NO_TEXT, 0)),
        "articles": int(values.get(EXTRACTED, 0)),
        "filled": {f: int(values.get(FILLED + f, 0)) for f in FIELDS},
        "median_length": _median_length(values),
    }


def counts(values: dict[str, Any]) -> dict[str, Any]:
    """A crawl's counts, shaped as a crawl-run record wants them."""
    return {
        "pages": int(values.get(PAGES, 0)),
        "new": int(values.get(NEW, 0)),
        "duplicates": int(values.get(DUPLICATES, 0)),
        "revised": int(values.get(REVISED, 0)),
        "skipped": {k.removeprefix(SKIPPED): v for k, v in values.items() if k.startswith(SKIPPED)},
        "errors": {k.removeprefix(ERRORS): v for k, v in values.items() if k.startswith(ERRORS)},
    }
