"""A source's health, judged from its own run records: `ok`, `degraded` or `failing`, with
reasons a person can act on. Pure: runs in, a verdict out; the queries live in the storage
side (pipelines.storage.health), the thresholds come from config.yaml's `health:`.

Three kinds of trouble:
- failed runs in a row, with their cause (unreachable, HTTP 403 / 429, a feed that is not XML,
  robots.txt disallowing every seed);
- extraction breakage: the newest article pages judged against the source's own baseline (the
  share with no article text, each field's fill rate, the median body length);
- silence: no new article for much longer than the source's usual gap between new articles.
Runs that fetched no article page say nothing about extraction; a source too young to have a
baseline is never judged on it.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any

import msgspec
from msgspec import Meta

OK, DEGRADED, FAILING = "ok", "degraded", "failing"
STATES = (OK, DEGRADED, FAILING)  # in order of gravity; metrics export the index
FIELDS = ("title", "authors", "published_at", "language", "image")
# Run statuses that say nothing either way: the daemon stopped it, or it ran out of time.
NEUTRAL = frozenset({"running", "interrupted", "timeout"})
BLOCKING = ("HTTP 401", "HTTP 403", "HTTP 429", "HTTP 451")
LAYOUT = "layout changed?"


class Span(timedelta):
    """A duration in config.yaml: '30s', '15m', '6h', '2d' or seconds (decoded by crawler.config)."""


class Thresholds(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """config.yaml `health:` (global) and a source's own `health:` (its overrides)."""

    # Failed runs in a row before a source is failing; fewer may be a passing hiccup, and a
    # webhook is told once per change, not once per run.
    failing_after: Annotated[int, Meta(ge=1)] = 3
    # Extraction is judged on samples: the newest runs with article pages, pooled until they
    # hold min_pages pages over at least sample_runs runs, so that one odd page or run is not
    # a breakage.
    min_pages: Annotated[int, Meta(ge=1)] = 5
    sample_runs: Annotated[int, Meta(ge=1)] = 2
    baseline: Annotated[int, Meta(ge=1)] = 3  # normal samples needed before any is judged
    no_text_rise: Annotated[float, Meta(gt=0, le=1)] = 0.3  # share with no text above usual
    fill_drop: Annotated[float, Meta(gt=0, lt=1)] = 0.5  # fill rate under this part of usual
    length_drop: Annotated[float, Meta(gt=0, lt=1)] = 0.5  # median length under this part of usual
    silence_factor: Annotated[float, Meta(ge=1)] = 3.0  # times the usual longest gap
    min_silence: Span = Span(hours=6)  # never silent before this long without a new article
    silence_history: Annotated[int, Meta(ge=2)] = 5  # gaps between new articles to learn from


@dataclass(frozen=True, slots=True)
class Run:
    """What health reads of a crawl-run record."""

    id: int
    started_at: datetime
    status: str
    pages: int = 0
    new: int = 0
    finished_at: datetime | None = None
    errors: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    extraction: dict[str, Any] | None = None
    # Not judged, but counted by the daemon's metrics from the same read.
    source: str = ""
    trigger: str = ""
    duplicates: int = 0
    revised: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, record: Any) -> Run:
        """From a CrawlRun (or a row with its columns)."""
        return cls(
            id=record.id,
            started_at=record.started_at,
            status=record.status,
            pages=record.pages or 0,
            new=record.new or 0,
            finished_at=record.finished_at,
            errors=dict(record.errors or {}),
            error=record.error,
            extraction=record.extraction,
            source=record.source,
            trigger=record.trigger,
            duplicates=record.duplicates or 0,
            revised=record.revised or 0,
            skipped=dict(record.skipped or {}),
        )


@dataclass(frozen=True, slots=True)
class Health:
    source: str
    status: str
    reasons: list[str]
    since: datetime | None  # when the current status began, as far as the runs read tell
    last_good: datetime | None  # when the newest run that went well finished

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "status": self.status,
            "reasons": list(self.reasons),
            "since": self.since.isoformat() if self.since else None,
            "last_good_run": self.last_good.isoformat() if self.last_good else None,
        }


# -- failed runs ------------------------------------------------------------------------------


def trouble(run: Run) -> str | None:
    """Why a run counts as failed for health, as a person would put it; None if it does not."""
    if run.status in NEUTRAL:
        return None
    if run.status != "ok":
        error = run.error or run.status
        if error.startswith("disallowed by robots.txt"):
            return "robots.txt disallows every seed"
        if any(code in error for code in BLOCKING):
            return f"{error}: the site is blocking us"
        if "not XML on every seed" in error:
            return f"{error}: moved, or replaced by a page?"
        return error
    refused = {reason: n for reason, n in run.errors.items() if reason in BLOCKING}
    if refused and run.pages == 0:
        # The seeds answered, every article page was refused.
        codes = " and ".join(sorted(refused))
        return f"{codes} on every article page ({sum(refused.values())} refused): the site is blocking us"
    return None


def _failures(runs: Sequence[Run], troubles: dict[int, str | None]) -> list[Run]:
    """The failed runs since the last one that went well, newest last."""
    streak: list[Run] = []
    for run in reversed(runs):
        if run.status in NEUTRAL:
            continue
        if troubles[run.id] is None:
            break
        streak.append(run)
    return streak[::-1]


# -- extraction -------------------------------------------------------------------------------


@dataclass(slots=True)
class _Sample:
    """Runs with article pages, pooled."""

    runs: list[Run] = field(default_factory=list)
    pages: int = 0
    articles: int = 0
    no_text: int = 0
    filled: dict[str, int] = field(default_factory=dict)
    lengths: list[int] = field(default_factory=list)

    def add(self, run: Run) -> None:
        stats = run.extraction or {}
        self.runs.append(run)
        self.pages += int(stats.get("pages") or 0)
        self.articles += int(stats.get("articles") or 0)
        self.no_text += int(stats.get("no_text") or 0)
        for name, n in (stats.get("filled") or {}).items():
            self.filled[name] = self.filled.get(name, 0) + int(n)
        if stats.get("median_length"):
            self.lengths.append(int(stats["median_length"]))

    def metrics(self) -> dict[str, float]:
        found = {"no_text": self.no_text / self.pages} if self.pages else {}
        if self.articles:
            found.update({name: self.filled.get(name, 0) / self.articles for name in FIELDS})
        if self.lengths:
            found["length"] = _median(list(self.lengths))
        return found


def _samples(runs: Sequence[Run], t: Thresholds) -> list[_Sample]:
    """Runs with article pages pooled into samples from the newest back, oldest sample first;
    an oldest sample too small to judge is left out."""
    samples: list[_Sample] = []
    current = _Sample()
    for run in reversed(runs):
        if not run.extraction or not run.extraction.get("pages"):
            continue  # no article page: no evidence either way
        current.add(run)
        if current.pages >= t.min_pages and len(current.runs) >= t.sample_runs:
            current.runs.reverse()
            samples.append(current)
            current = _Sample()
    return samples[::-1]


def _off(sample: dict[str, float], usual: dict[str, float], t: Thresholds) -> list[str]:
    """How a sample falls short of the usual, one reason per measure."""
    reasons = []
    if "no_text" in sample and "no_text" in usual and sample["no_text"] - usual["no_text"] >= t.no_text_rise:
        reasons.append(
            f"extraction: {sample['no_text']:.0%} of article pages had no article text "
            f"(usually {usual['no_text']:.0%}); {LAYOUT}"
        )
    for name in FIELDS:
        if name in sample and usual.get(name, 0) >= 0.5 and sample[name] < usual[name] * t.fill_drop:
            reasons.append(
                f"extraction: {name} found on {sample[name]:.0%} of articles "
                f"(usually {usual[name]:.0%}); {LAYOUT}"
            )
    if "length" in sample and "length" in usual and sample["length"] < usual["length"] * t.length_drop:
        reasons.append(
            f"extraction: median body length {sample['length']:,.0f} characters "
            f"(usually {usual['length']:,.0f}); {LAYOUT}"
        )
    return reasons


def _median(values: list[float]) -> float:
    # statistics.median's type checks cost more than the sort of ten numbers.
    values.sort()
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


def _usual(normal: Sequence[dict[str, float]]) -> dict[str, float]:
    names = {name for metrics in normal for name in metrics}
    return {name: _median([m[name] for m in normal if name in m]) for name in names}


def _extraction(runs: Sequence[Run], t: Thresholds) -> tuple[list[str], list[Run]]:
    """The reasons the newest sample is off the source's baseline, and the runs of the streak
    of samples that are off; nothing while the source is too young for a baseline."""
    normal: list[dict[str, float]] = []
    streak: list[_Sample] = []
    reasons: list[str] = []
    for sample in _samples(runs, t):
        metrics = sample.metrics()
        off = _off(metrics, _usual(normal[-10:]), t) if len(normal) >= t.baseline else []
        if off:
            streak.append(sample)
            reasons = off
        else:
            # Judged normal (or too early to judge): part of the baseline from now on.
            normal.append(metrics)
            streak, reasons = [], []
    return reasons, [run for sample in streak for run in sample.runs]


# -- silence ----------------------------------------------------------------------------------


def _silence(
    runs: Sequence[Run], productive: Sequence[datetime], now: datetime, t: Thresholds
) -> tuple[str | None, datetime | None]:
    """A reason when no new article came for much longer than usual, and since when."""
    times = sorted(productive)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    if len(gaps) < t.silence_history or not runs:
        return None, None
    longest_usual = sorted(gaps)[int(0.9 * (len(gaps) - 1))]  # the 90th percentile gap
    allowed = max(longest_usual * t.silence_factor, t.min_silence)
    last = times[-1]
    # Only runs since then are evidence: a daemon that was down saw nothing either way.
    if now - last <= allowed or runs[-1].started_at - last <= allowed:
        return None, None
    usual = sorted(gaps)[len(gaps) // 2]  # the median gap
    return (
        f"silence: no new article for {_span(now - last)} (usually one every {_span(usual)})",
        last + allowed,
    )


def _span(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    # Whole units, the larger from twice the unit on: "36h", not "1.5d".
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= 2 * size or (unit == "m" and seconds >= size):
            return f"{seconds // size:.0f}{unit}"
    return f"{seconds:.0f}s"


# -- the verdict ------------------------------------------------------------------------------


def assess(
    source: str,
    runs: Sequence[Run],
    now: datetime,
    thresholds: Thresholds,
    productive: Sequence[datetime] = (),
) -> Health:
    """The source's health from its newest runs (oldest first) and the start times of its
    runs that stored new articles (`productive`, reaching further back than `runs`)."""
    t = thresholds
    runs = [r for r in runs if r.status != "running"]
    troubles = {r.id: trouble(r) for r in runs}
    failed = _failures(runs, troubles)
    broken, streak = _extraction(runs, t)
    # A good run went well, and was not part of an extraction breakage that goes on.
    good = [r for r in runs if r.status == "ok" and troubles[r.id] is None]
    if broken:
        good = [r for r in good if r.started_at < streak[0].started_at]
    last_good = good[-1].finished_at if good else None
    reasons: list[str] = []
    starts: list[datetime] = []
    status = OK
    if len(failed) >= t.failing_after:
        reasons.append(f"{len(failed)} failed runs in a row: {troubles[failed[-1].id]}")
        starts.append(failed[0].started_at)
        status = FAILING
    if broken:
        reasons.extend(broken)
        starts.append(streak[0].started_at)
        status = status if status == FAILING else DEGRADED
    quiet, quiet_since = _silence(runs, productive, now, t)
    if quiet and not failed:
        reasons.append(quiet)
        starts.append(quiet_since or now)
        status = status if status == FAILING else DEGRADED
    if status == OK:
        # Since the run after the newest one that was not fine, as far as these runs tell.
        bad = [i for i, r in enumerate(runs) if troubles[r.id] is not None]
        first = (
            runs[bad[-1] + 1] if bad and bad[-1] + 1 < len(runs) else (runs[0] if runs and not bad else None)
        )
        return Health(source, OK, [], first.started_at if first else None, last_good)
    return Health(source, status, reasons, min(starts), last_good)
