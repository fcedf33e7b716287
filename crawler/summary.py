"""The table `newsmill crawl` prints when it is done."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

from crawler.runner import CrawlResult

COLUMNS = ("source", "status", "seconds", "requests", "pages", "new", "duplicates", "skipped", "errors")


def _reasons(counts: dict[str, int]) -> str:
    return ", ".join(f"{reason} {n}" for reason, n in sorted(counts.items(), key=lambda kv: -kv[1]))


def print_summary(results: Sequence[CrawlResult], out: TextIO) -> None:
    rows = [
        (
            r.source,
            r.status,
            f"{r.seconds:.1f}",
            str(r.requests),
            str(r.pages),
            str(r.new),
            str(r.duplicates),
            str(sum(r.skipped.values())),
            str(sum(r.errors.values())),
        )
        for r in results
    ]
    widths = [max(len(c), *(len(row[i]) for row in rows)) for i, c in enumerate(COLUMNS)]
    print("  ".join(c.ljust(w) for c, w in zip(COLUMNS, widths, strict=True)), file=out)
    for row in rows:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)), file=out)
    for r in results:
        if r.revised:
            print(f"{r.source}: revised {r.revised} (stored articles whose text changed; "
                  "the earlier text is kept as a revision)", file=out)
        if r.skipped:
            print(f"{r.source}: skipped: {_reasons(r.skipped)}", file=out)
        if r.errors:
            print(f"{r.source}: errors: {_reasons(r.errors)}", file=out)
        if r.error:
            print(f"{r.source}: {r.status}: {r.error}", file=out)
