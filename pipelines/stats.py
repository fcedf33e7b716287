"""The names under which newsmill counts a crawl in Scrapy's stats, and reads them back."""

from __future__ import annotations

from typing import Any

from scrapy.statscollectors import StatsCollector

PAGES = "newsmill/pages"
NEW = "newsmill/new"
DUPLICATES = "newsmill/duplicates"
SKIPPED = "newsmill/skipped/"
ERRORS = "newsmill/errors/"
# Re-fetched stored articles whose text changed, kept as a new revision (counted among the
# duplicates too: the article was stored already).
REVISED = "newsmill/revised"
STATUS = "newsmill/status"  # the crawl-run status, set when the crawl closes
ERROR = "newsmill/error"  # why a failed crawl failed


def skip(stats: StatsCollector | None, reason: str) -> None:
    if stats is not None:
        stats.inc_value(SKIPPED + reason)


def error(stats: StatsCollector | None, reason: str) -> None:
    if stats is not None:
        stats.inc_value(ERRORS + reason)


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
