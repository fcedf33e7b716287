"""The near-duplicate index in the database: which new texts retell a stored article.

Each stored article's band buckets (common.fingerprint) are rows of the indexed
fingerprint_bands table; a new text's candidates are the articles sharing a bucket with it,
found by one index query per batch, and confirmed by their exact shingle similarity.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, delete, select
from sqlalchemy.orm import Session

from common.fingerprint import Fingerprint, fingerprint, first_match
from pipelines.storage.models import Article, FingerprintBand

_CHUNK = 500  # bound parameters per IN (...), well under every driver's limit
# The table itself, for a plain executemany INSERT without the ORM's bulk machinery.
_BANDS = cast(Table, FingerprintBand.__table__)


@dataclass(slots=True)
class BatchMatches:
    prints: list[Fingerprint]
    in_store: dict[int, int]  # batch index -> id of the stored article it duplicates
    in_batch: dict[int, int]  # batch index -> index of an earlier text of the batch it duplicates


def match(
    session: Session, texts: Sequence[str], computed: Sequence[Fingerprint | None] | None = None
) -> BatchMatches:
    """Which of these new texts repeat a stored article, or an earlier text of the batch.

    One indexed query for the batch's buckets, one for the candidates' texts, then an exact
    similarity check per candidate: lookup cost follows the matches, not the store's size.
    """
    # Fingerprints computed in the extraction workers come along; the rest are made here.
    given = list(computed) if computed is not None else [None] * len(texts)
    prints = [p if p is not None else fingerprint(t) for t, p in zip(texts, given, strict=True)]
    buckets = sorted({b for p in prints for b in p.buckets})
    holders: dict[int, set[int]] = defaultdict(set)
    for start in range(0, len(buckets), _CHUNK):
        rows = session.execute(
            select(FingerprintBand.bucket, FingerprintBand.article_id).where(
                FingerprintBand.bucket.in_(buckets[start : start + _CHUNK])
            )
        )
        for bucket, article_id in rows:
            holders[bucket].add(article_id)
    candidates = [set().union(*(holders.get(b, ()) for b in p.buckets)) for p in prints]
    wanted = sorted(set().union(*candidates)) if candidates else []
    stored: dict[int, Fingerprint] = {}
    for start in range(0, len(wanted), _CHUNK):
        for article_id, text in session.execute(
            select(Article.id, Article.text).where(Article.id.in_(wanted[start : start + _CHUNK]))
        ):
            # Only the shingles are compared; no need to MinHash the stored text again.
            stored[article_id] = Fingerprint(fingerprint(text, buckets=False).shingle_hashes, (0,))
    matches = BatchMatches(prints, {}, {})
    earlier: dict[int, list[int]] = defaultdict(list)  # bucket -> batch indexes of first tellings
    for i, p in enumerate(prints):
        if not p.usable:
            continue
        owner = first_match(p, [(a, stored[a]) for a in candidates[i] if a in stored])
        if owner is not None:
            matches.in_store[i] = owner
            continue
        twin = first_match(p, [(j, prints[j]) for j in {j for b in p.buckets for j in earlier[b]}])
        if twin is not None:
            matches.in_batch[i] = twin
            continue
        for b in p.buckets:
            earlier[b].append(i)
    return matches


def index(session: Session, buckets: Mapping[int, Sequence[int]], *, replace: bool = False) -> None:
    """Store articles' buckets; `replace` drops their old ones first (a revised text)."""
    if replace and buckets:
        session.execute(delete(FingerprintBand).where(FingerprintBand.article_id.in_(list(buckets))))
    rows = [{"bucket": b, "article_id": a} for a, bs in buckets.items() for b in set(bs)]
    for start in range(0, len(rows), _CHUNK):
        session.execute(_BANDS.insert(), rows[start : start + _CHUNK])
