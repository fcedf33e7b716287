"""The two extraction metrics: ScrapingHub's shingle metric (fundus-eval) and trafilatura's
snippet metric (trafilatura-eval).

Shingle metric, with optional paragraphs:

Tokens are runs of \\w+; a text is a multiset of 4-word shingles. Per page tp, fp and fn are
divided by (tp + fp + fn) so that every page weighs the same whatever its length; each page's
precision and recall are averaged over pages and F1 is taken from the two averages. Case is kept.
With `optional=False` this reproduces the dataset README's reference figures exactly (trafilatura
defaults: P 0.923, R 0.959, F1 0.941), which is what validates this implementation.

The ground truth marks some paragraphs optional by writing them inside square brackets (editor's
notes, standfirsts, image-less "key points" boxes). Keeping one is not extra and dropping one is
not missed: a shingle that touches an optional paragraph is never required, and a predicted
shingle that matches one is never counted as false. Shingles that span the gap left where an
optional paragraph was dropped are tolerated too, since a prediction that drops it produces them.
The README's reference figures treat optional paragraphs as required (brackets stripped, as in
ground_truth.txt); `optional=False` does the same.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

SHINGLE = 4
TOKEN = re.compile(r"\w+")


@dataclass(frozen=True, slots=True)
class PageScore:
    """One page's tp, fp and fn, each a fraction of (tp + fp + fn)."""

    tp: float
    fp: float
    fn: float

    @property
    def precision(self) -> float:
        # An empty prediction is perfect only when nothing was required of it.
        if self.tp + self.fp == 0:
            return 1.0 if self.fn == 0 else 0.0
        return self.tp / (self.tp + self.fp)

    @property
    def recall(self) -> float:
        if self.tp + self.fn == 0:
            return 1.0 if self.fp == 0 else 0.0
        return self.tp / (self.tp + self.fn)


@dataclass(frozen=True, slots=True)
class Summary:
    precision: float
    recall: float
    f1: float
    pages: int


def tokens(text: str) -> list[str]:
    return TOKEN.findall(text)


def shingles(words: Sequence[str], size: int = SHINGLE) -> Counter[tuple[str, ...]]:
    # A text shorter than one shingle still has content worth scoring: it counts as one shingle.
    if len(words) < size:
        return Counter([tuple(words)]) if words else Counter()
    return Counter(tuple(words[i : i + size]) for i in range(len(words) - size + 1))


def is_optional(paragraph: str) -> bool:
    stripped = paragraph.strip()
    return len(stripped) >= 2 and stripped[0] == "[" and stripped[-1] == "]"


def reference_shingles(
    paragraphs: Iterable[str], optional: bool = True
) -> tuple[Counter[tuple[str, ...]], Counter[tuple[str, ...]]]:
    """(required, tolerated) shingles of a ground-truth body given as paragraphs.

    With `optional=False` bracketed paragraphs are required like any other (README's method).
    """
    words: list[str] = []
    optional_flags: list[bool] = []
    for paragraph in paragraphs:
        # The brackets are not \w, so they never reach the tokens either way.
        found = tokens(paragraph)
        words.extend(found)
        optional_flags.extend([optional and is_optional(paragraph)] * len(found))
    required: Counter[tuple[str, ...]] = Counter()
    tolerated: Counter[tuple[str, ...]] = Counter()
    if len(words) < SHINGLE:
        (tolerated if any(optional_flags) else required).update(shingles(words))
        return required, tolerated
    for i in range(len(words) - SHINGLE + 1):
        shingle = tuple(words[i : i + SHINGLE])
        if any(optional_flags[i : i + SHINGLE]):
            tolerated[shingle] += 1
        else:
            required[shingle] += 1
    required_only = [w for w, optional in zip(words, optional_flags, strict=True) if not optional]
    tolerated.update(shingles(required_only) - required)
    return required, tolerated


def score_page(paragraphs: Sequence[str], predicted: str, optional: bool = True) -> PageScore:
    required, tolerated = reference_shingles(paragraphs, optional)
    pred = shingles(tokens(predicted))
    tp = sum((pred & required).values())
    extra = pred - required
    fp = sum(extra.values()) - sum((extra & tolerated).values())
    fn = sum((required - pred).values())
    total = tp + fp + fn
    if total == 0:
        # Nothing required and nothing extra: a page that is all optional, predicted either way.
        return PageScore(1.0, 0.0, 0.0)
    return PageScore(tp / total, fp / total, fn / total)


def summarize(scores: Sequence[PageScore]) -> Summary:
    if not scores:
        return Summary(0.0, 0.0, 0.0, 0)
    precision = sum(s.precision for s in scores) / len(scores)
    recall = sum(s.recall for s in scores) / len(scores)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Summary(precision, recall, f1, len(scores))


# --- trafilatura's snippet metric ---------------------------------------------------------------
# Each page names snippets the text must contain ("with") and must not ("without"), found by a
# plain substring test. Over the whole set: a "with" snippet found is a true positive, one missed a
# false negative; a "without" snippet found is a false positive, one missed a true negative.
# Precision and recall are pooled over all pages (micro-averaged), F1 taken from the two. This
# reproduces the dataset README's reference (trafilatura 2.3.1 defaults: P 0.908, R 0.941).


@dataclass(frozen=True, slots=True)
class SnippetScore:
    """One page's snippet counts."""

    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def f1(self) -> float:
        """The page's own F1, for comparing two extractors page by page (the set's figure is
        pooled over pages instead, see summarize_snippets)."""
        total = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / total if total else 1.0


def score_snippets(with_: Iterable[str], without: Iterable[str], predicted: str) -> SnippetScore:
    found = [snippet in predicted for snippet in with_]
    leaked = [snippet in predicted for snippet in without]
    return SnippetScore(tp=sum(found), fp=sum(leaked), fn=len(found) - sum(found),
                        tn=len(leaked) - sum(leaked))


def summarize_snippets(scores: Sequence[SnippetScore]) -> Summary:
    tp = sum(s.tp for s in scores)
    fp = sum(s.fp for s in scores)
    fn = sum(s.fn for s in scores)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Summary(precision, recall, f1, len(scores))
