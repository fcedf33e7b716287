"""Extraction quality and speed of newsmill beside trafilatura's defaults, on both dev sets.

    .venv/bin/python bench/extraction.py [--set fundus-eval|trafilatura-eval|both] [--workers 2]
        [--repeat N] [--worst N] [--only PREFIX] [--dump DIR] [--save FILE] [--metadata]

fundus-eval (80 news pages, hand-extracted bodies) is scored with the shingle metric of
bench/scoring.py two ways: the dataset README's method (bracketed paragraphs required; it
reproduces the README's trafilatura reference, F1 0.941) and "optional-aware" (bracketed
paragraphs neither required nor extra). trafilatura-eval (990 pages of all kinds, snippets that
must and must not appear) is scored with trafilatura's snippet metric, which reproduces its
README's reference (trafilatura 2.3.1: P 0.908, R 0.941). For each set: P/R/F1 of both
extractors, on the whole set and on its two fixed halves (A, B: tune on one, check on the
other), the pages where newsmill's F1 is more than 0.10 below trafilatura's, the worst of them,
and CPU time per page. Pages are spread over worker processes; each times both extractors on
its page, one after the other, in CPU time (less disturbed by other processes than wall time,
but on shared cores still noisy). The sets are looked for in shared/datasets beside the
repository or one of its parents; --fundus and --trafilatura name them explicitly.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    # Run as a script from anywhere: the package and its sibling modules live at the repo root.
    sys.path.insert(0, str(REPO))

import trafilatura  # noqa: E402

from bench.evalsets import (  # noqa: E402
    FUNDUS,
    SETS,
    TRAFILATURA,
    Page,
    find_dataset,
    is_dataset,
    load_set,
)
from bench.scoring import (  # noqa: E402
    PageScore,
    Summary,
    score_page,
    score_snippets,
    summarize,
    summarize_snippets,
)
from pipelines.extraction.article import Extracted, extract_article  # noqa: E402

if TYPE_CHECKING:
    from trafilatura.settings import Document

FIELDS = ("title", "authors", "published_at", "language", "description", "image", "tags")
LOSS = 0.10  # a page whose F1 is this much below trafilatura's counts as a loss


@dataclass(slots=True)
class Result:
    """One page through both extractors."""

    record: Extracted
    baseline: str
    ours_ms: float
    base_ms: float
    meta: Extracted | None = None


@dataclass(slots=True)
class Scored:
    """One set's per-page F1 for both extractors and its summaries."""

    name: str
    pages: list[Page]
    results: list[Result]
    ours_f1: list[float]
    base_f1: list[float]
    summaries: dict[str, tuple[Summary, Summary]]  # label -> (trafilatura, newsmill)


def trafilatura_defaults(page: Page, set_name: str) -> str:
    # Each set's README reference: fundus-eval's was measured without the URL, trafilatura-eval's
    # with it.
    url = page.url if set_name == TRAFILATURA else None
    return trafilatura.extract(page.html, url=url, include_comments=False) or ""


def _cpu_ms(call: Callable[[], object], repeat: int) -> tuple[object, float]:
    best = float("inf")
    result: object = None
    for _ in range(repeat):
        start = time.process_time()
        result = call()
        best = min(best, time.process_time() - start)
    return result, best * 1000


def _warm_up() -> None:
    # First calls pay for imports and lazy tables, which a crawl's worker pays once at start.
    page = "<html><body><article><p>" + "Warm words here. " * 40 + "</p></article></body></html>"
    extract_article(page, "https://example.com/a")
    trafilatura.extract(page)


def _run(job: tuple[Page, str, int, bool]) -> Result:
    page, set_name, repeat, with_meta = job
    record, ours_ms = _cpu_ms(lambda: extract_article(page.html, page.url), repeat)
    baseline, base_ms = _cpu_ms(lambda: trafilatura_defaults(page, set_name), repeat)
    meta = _trafilatura_metadata(page) if with_meta else None
    return Result(record, baseline, ours_ms, base_ms, meta)  # type: ignore[arg-type]


def run_pages(pages: list[Page], set_name: str, workers: int, repeat: int,
              with_meta: bool) -> list[Result]:
    jobs = [(page, set_name, repeat, with_meta) for page in pages]
    if workers <= 1:
        _warm_up()
        return [_run(job) for job in jobs]
    with multiprocessing.get_context("spawn").Pool(workers, initializer=_warm_up) as pool:
        return pool.map(_run, jobs, chunksize=4)


def _f1(score: PageScore) -> float:
    p, r = score.precision, score.recall
    return 2 * p * r / (p + r) if p + r else 0.0


def score_set(name: str, pages: list[Page], results: list[Result]) -> Scored:
    summaries: dict[str, tuple[Summary, Summary]] = {}
    pairs = list(zip(pages, results, strict=True))
    halves = {half: [i for i, p in enumerate(pages) if p.half == half] for half in "AB"}
    if name == FUNDUS:
        per_method: dict[bool, tuple[list[PageScore], list[PageScore]]] = {}
        for optional in (False, True):
            base = [score_page(p.body, r.baseline, optional) for p, r in pairs]
            ours = [score_page(p.body, r.record.text, optional) for p, r in pairs]
            per_method[optional] = (base, ours)
        for optional, label in ((False, "README method"), (True, "optional-aware")):
            base, ours = per_method[optional]
            summaries[label] = (summarize(base), summarize(ours))
        base, ours = per_method[False]
        for half, idx in halves.items():
            summaries[f"half {half}"] = (summarize([base[i] for i in idx]),
                                         summarize([ours[i] for i in idx]))
        return Scored(name, pages, results, [_f1(s) for s in ours], [_f1(s) for s in base],
                      summaries)
    base_s = [score_snippets(p.with_, p.without, r.baseline) for p, r in pairs]
    ours_s = [score_snippets(p.with_, p.without, r.record.text) for p, r in pairs]
    summaries["snippet metric"] = (summarize_snippets(base_s), summarize_snippets(ours_s))
    for half, idx in halves.items():
        summaries[f"half {half}"] = (summarize_snippets([base_s[i] for i in idx]),
                                     summarize_snippets([ours_s[i] for i in idx]))
    return Scored(name, pages, results, [s.f1 for s in ours_s], [s.f1 for s in base_s],
                  summaries)


def fmt(summary: Summary) -> str:
    return f"P {summary.precision:.3f}  R {summary.recall:.3f}  F1 {summary.f1:.3f}"


def report(scored: Scored, worst: int) -> None:
    pages, results = scored.pages, scored.results
    metric = "shingle metric" if scored.name == FUNDUS else "snippet metric"
    print(f"== {scored.name}: {len(pages)} pages, {metric}")
    for label, (base, ours) in scored.summaries.items():
        print(f"  {label} ({base.pages} pages):")
        print(f"    trafilatura defaults  {fmt(base)}")
        print(f"    newsmill              {fmt(ours)}   F1 {ours.f1 - base.f1:+.3f}")
    deltas = [o - b for o, b in zip(scored.ours_f1, scored.base_f1, strict=True)]
    losses = [i for i, d in enumerate(deltas) if d < -LOSS]
    gains = [i for i, d in enumerate(deltas) if d > LOSS]
    print(f"  pages more than {LOSS:.2f} F1 below trafilatura: {len(losses)}"
          f" (more than {LOSS:.2f} above: {len(gains)})")
    ours_ms = sum(r.ours_ms for r in results) / len(results)
    base_ms = sum(r.base_ms for r in results) / len(results)
    print(f"  CPU ms/page: newsmill {ours_ms:.1f}, trafilatura defaults {base_ms:.1f},"
          f" ratio {ours_ms / base_ms:.2f}")
    if scored.name == FUNDUS:
        print("  per publisher F1 (README method), trafilatura -> newsmill:")
        for publisher in sorted({p.publisher for p in pages}):
            idx = [i for i, p in enumerate(pages) if p.publisher == publisher]
            base_f1 = sum(scored.base_f1[i] for i in idx) / len(idx)
            ours_f1 = sum(scored.ours_f1[i] for i in idx) / len(idx)
            print(f"    {publisher:18s} {base_f1:.3f} -> {ours_f1:.3f} ({ours_f1 - base_f1:+.3f})")
    if worst:
        print(f"  worst {worst} pages by F1 against trafilatura: newsmill F1, trafilatura F1,"
              " chars newsmill/trafilatura")
        for i in sorted(range(len(pages)), key=lambda i: deltas[i])[:worst]:
            print(f"    {pages[i].key[:40]:40s} {scored.ours_f1[i]:.3f} {scored.base_f1[i]:.3f}"
                  f"  {len(results[i].record.text)}/{len(results[i].baseline)}")
    if results[0].meta is not None:
        print("  metadata fill rates      newsmill   trafilatura-metadata")
        for field in FIELDS:
            ours_rate = _fill_rate([r.record for r in results], field)
            meta_rate = _fill_rate([r.meta for r in results if r.meta is not None], field)
            print(f"    {field:14s}          {ours_rate:6.0%}     {meta_rate:6.0%}")
    print()


def _fill_rate(records: Sequence[Extracted], name: str) -> float:
    return sum(1 for r in records if getattr(r, name)) / len(records) if records else 0.0


def _trafilatura_metadata(page: Page) -> Extracted:
    """What trafilatura's own metadata gives, for comparison with newsmill's fill rates."""
    doc = cast("Document | None", trafilatura.bare_extraction(page.html, url=page.url,
                                                            with_metadata=True))
    if doc is None:
        return Extracted()
    return Extracted(
        title=doc.title,
        authors=[a for a in (doc.author or "").split(";") if a.strip()],
        published_at=doc.date,  # type: ignore[arg-type]  # only its presence is counted here
        language=doc.language,
        description=doc.description,
        image=doc.image,
        tags=list(doc.tags or []) + list(doc.categories or []),
    )


def _resolve(name: str, given: Path | None) -> Path | None:
    if given is None:
        return find_dataset(name, REPO.parent)
    return given if given.is_absolute() else REPO / given


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", choices=(*SETS, "both"), default="both",
                        help="which dev set to score (default both)")
    parser.add_argument("--fundus", type=Path, help="fundus-eval folder")
    parser.add_argument("--trafilatura", type=Path, help="trafilatura-eval folder")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="timed runs of each extractor per page, the fastest kept")
    parser.add_argument("--worst", type=int, default=10, help="list this many worst pages")
    parser.add_argument("--only", help="pages whose name starts with this (e.g. a publisher)")
    parser.add_argument("--dump", type=Path, help="write each page's two texts here")
    parser.add_argument("--save", type=Path, help="write per-page F1 and texts here as JSON")
    parser.add_argument("--metadata", action="store_true",
                        help="also compare metadata fill rates with trafilatura's metadata")
    args = parser.parse_args(argv)
    if args.workers < 1 or args.repeat < 1:
        parser.error("--workers and --repeat must be at least 1")

    names = SETS if args.set == "both" else (args.set,)
    saved: dict[str, dict[str, dict[str, object]]] = {}
    for name in names:
        root = _resolve(name, args.fundus if name == FUNDUS else args.trafilatura)
        if root is None or not is_dataset(name, root):
            print(f"{name}: dataset not found ({root or 'no shared/datasets/' + name})",
                  file=sys.stderr)
            return 2
        pages = load_set(name, root, args.only)
        if not pages:
            print(f"{name}: no pages selected", file=sys.stderr)
            continue
        started = time.perf_counter()
        results = run_pages(pages, name, args.workers, args.repeat, args.metadata)
        scored = score_set(name, pages, results)
        print(f"(from {root}, {time.perf_counter() - started:.0f} s wall)")
        report(scored, args.worst)
        if args.dump:
            folder = args.dump / name
            folder.mkdir(parents=True, exist_ok=True)
            for page, result in zip(pages, results, strict=True):
                stem = page.key.replace("/", "_")
                (folder / f"{stem}.newsmill.txt").write_text(result.record.text, "utf-8")
                (folder / f"{stem}.trafilatura.txt").write_text(result.baseline, "utf-8")
        saved[name] = {
            page.key: {"half": page.half, "newsmill_f1": ours, "trafilatura_f1": base,
                       "newsmill": result.record.text, "trafilatura": result.baseline}
            for page, result, ours, base in zip(
                pages, results, scored.ours_f1, scored.base_f1, strict=True)
        }
    if args.save:
        args.save.write_text(json.dumps(saved, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
