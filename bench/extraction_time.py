"""CPU time of newsmill's extract_article per page on a dev set, in one process.

    .venv/bin/python bench/extraction_time.py [--set fundus-eval|trafilatura-eval|both]
        [--repeat 3] [--only PREFIX] [--profile FILE] [--top 30] [--records FILE] [--check FILE]

bench/extraction.py times both extractors in worker processes next to each other; this script
times newsmill alone, steadier: every page is extracted once untimed (imports, dateparser's
locales, regex caches: what a crawl's worker pays once at start), then --repeat rounds over the
whole set, each page timed with time.thread_time (this thread's CPU, not other processes' and
not waiting), the fastest of its rounds kept. It prints the mean and median of those per-page
times. On shared cores the figures still move by a few percent between runs: compare two
versions of the code by alternating runs of each.

--profile runs one more round under cProfile (thread CPU time as its clock), writes the stats to
FILE and prints the --top functions by own time. --records writes every page's full record
(every field of Extracted) as JSON; --check compares the records with such a file and fails
when any page's record differs: a speed-up must not change an output.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import json
import pstats
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.evalsets import FUNDUS, SETS, TRAFILATURA, Page, find_dataset, load_set  # noqa: E402
from pipelines.extraction.article import extract_article  # noqa: E402


def record_of(page: Page) -> str:
    """The page's whole record, as text that two runs can compare."""
    return repr(dataclasses.astuple(extract_article(page.html, page.url)))


def time_pages(pages: list[Page], repeat: int) -> list[float]:
    """Per page, the fastest of `repeat` extractions in thread CPU milliseconds."""
    best = [float("inf")] * len(pages)
    for _ in range(repeat):
        for i, page in enumerate(pages):
            start = time.thread_time()
            extract_article(page.html, page.url)
            best[i] = min(best[i], time.thread_time() - start)
    return [seconds * 1000 for seconds in best]


def profile_pages(pages: list[Page], path: Path, top: int) -> None:
    profiler = cProfile.Profile(time.thread_time)
    profiler.enable()
    for page in pages:
        extract_article(page.html, page.url)
    profiler.disable()
    profiler.dump_stats(path)
    pstats.Stats(str(path)).sort_stats("tottime").print_stats(top)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", choices=(*SETS, "both"), default="both")
    parser.add_argument("--repeat", type=int, default=3, help="timed rounds; fastest kept")
    parser.add_argument("--only", help="pages whose name starts with this")
    parser.add_argument("--profile", type=Path, help="profile one more round; stats to FILE")
    parser.add_argument("--top", type=int, default=30, help="functions printed by --profile")
    parser.add_argument("--records", type=Path, help="write every page's record here (JSON)")
    parser.add_argument("--check", type=Path, help="compare every page's record with FILE")
    args = parser.parse_args(argv)
    if args.repeat < 0:
        parser.error("--repeat must be at least 0")
    names = SETS if args.set == "both" else (args.set,)
    records: dict[str, dict[str, str]] = {}
    for name in names:
        root = find_dataset(name, REPO)
        if root is None:
            print(f"{name}: dataset not found", file=sys.stderr)
            return 2
        pages = load_set(name, root, args.only)
        # The untimed pass: one-off costs, and each page's record.
        records[name] = {page.key: record_of(page) for page in pages}
        if args.repeat:
            ms = time_pages(pages, args.repeat)
            print(f"{name}: {len(pages)} pages, thread CPU ms/page (fastest of {args.repeat}): "
                  f"mean {statistics.fmean(ms):.2f}, median {statistics.median(ms):.2f}, "
                  f"total {sum(ms) / 1000:.2f} s")
        if args.profile:
            suffix = "fundus" if name == FUNDUS else "trafilatura" if name == TRAFILATURA else name
            profile_pages(pages, args.profile.with_suffix(f".{suffix}.prof"), args.top)
    if args.records:
        args.records.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    if args.check:
        expected = json.loads(args.check.read_text(encoding="utf-8"))
        differ = [f"{name}/{key}" for name, pages in records.items()
                  for key, record in pages.items() if expected.get(name, {}).get(key) != record]
        compared = sum(len(pages) for pages in records.values())
        print(f"records: {compared - len(differ)} of {compared} pages the same as {args.check}")
        for page in differ[:20]:
            print(f"  differs: {page}")
        if differ:
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
