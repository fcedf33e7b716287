"""Near-duplicate fingerprints: MinHash over word shingles, banded for LSH lookups.

A story republished with small edits (a wire story on a partner site, a sentence added, a
few words changed) keeps most of its five-word shingles, so the Jaccard similarity of the
two shingle sets stays high while that of two different stories stays low, even when both
come from the same desk and share stock phrases. MinHash estimates that similarity from
128 numbers; cut into 32 bands of 4, two texts with similarity s share at least one band
with probability 1 - (1 - s^4)^32 (0.87 at s = 0.5, above 0.99 at s = 0.65, about 1 in
100 at s = 0.13, the most that two distinct generated stories share). Each band is
hashed into one 64-bit bucket stored in an indexed column, so finding the candidates for
a new article is an index lookup whatever the size of the store (pipelines.storage.neardup). A
candidate becomes a duplicate only after the exact shingle similarity of the two texts is
checked, so a bucket collision never merges two stories.

This module computes; it runs in the extraction workers and knows nothing of the database.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from common.contenthash import words

if TYPE_CHECKING:
    import numpy as np

# numpy is imported where it is used: the crawl process imports this module for its types
# and seldom computes anything, and its start-up should not wait for numpy.

SHINGLE = 5  # words per shingle
NUM_PERM = 128
BANDS = 32
ROWS = NUM_PERM // BANDS
# The exact shingle Jaccard from which two texts are one story told twice. Rewrites with a
# word or two changed per paragraph and a sentence added measure 0.75-0.8; distinct stories
# in one outlet's house style stay under 0.15 (see tests/test_recrawl.py and bench/).
SIMILARITY = 0.5
# Below this many shingles (about 40 words) a text is too short to tell a rewrite from a
# different story that shares a stock paragraph: such texts are deduplicated exactly only.
MIN_SHINGLES = 36
_SEED = 1


def shingles(text: str, size: int = SHINGLE) -> set[str]:
    words_ = words(text)
    if len(words_) < size:
        return {" ".join(words_)} if words_ else set()
    # zip over shifted copies yields each window without slicing the list once per window;
    # it stops with the shortest copy, at the last full window.
    return set(map(" ".join, zip(*(words_[i:] for i in range(size)), strict=False)))


@cache
def _permutations() -> tuple[np.ndarray, np.ndarray]:
    """The 128 affine permutations h -> a * h + b (mod 2^32), a odd so that each is a bijection.

    Drawn as datasketch 2.0 draws them for its "affine32" scheme with seed 1, which is what
    computed the buckets of earlier newsmill versions: stored buckets stay comparable
    (tests/test_fingerprint.py pins them)."""
    import numpy as np

    generator = np.random.RandomState(_SEED)
    a = generator.randint(0, 1 << 31, NUM_PERM, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = generator.randint(0, 1 << 32, NUM_PERM, dtype=np.uint32)
    return a, b


def minhash(hashes: np.ndarray) -> np.ndarray:
    """The MinHash signature of a set, given its members' 32-bit hashes (uint32, not empty).

    Written out rather than taken from datasketch: this is the whole of what newsmill used of
    it, and importing datasketch imports scipy, a third of a second of every crawl's start-up.
    """
    import numpy as np

    a, b = _permutations()
    # The MurmurHash3 finalizer first, as datasketch does: CRC-32 of similar strings are
    # structured, and the affine maps alone would keep that structure. uint32 arithmetic
    # wraps around, which is the modulo 2^32 intended.
    mixed = hashes ^ (hashes >> np.uint32(16))
    mixed = mixed * np.uint32(0x85EBCA6B)
    mixed = mixed ^ (mixed >> np.uint32(13))
    mixed = mixed * np.uint32(0xC2B2AE35)
    mixed = mixed ^ (mixed >> np.uint32(16))
    return (mixed.reshape(-1, 1) * a + b).min(axis=0)


def _bucket(band: int, values: bytes) -> int:
    """The bucket of one band, from its hash values as little-endian 32-bit integers."""
    digest = hashlib.blake2b(values, digest_size=8, person=b"band%04d" % band)
    # Signed, so it fits a BIGINT column on every database.
    return int.from_bytes(digest.digest(), "big", signed=True)


@dataclass(frozen=True, slots=True)
class Fingerprint:
    # The shingles' CRC-32 hashes, unique, sorted, as little-endian uint32: what the exact
    # similarity check compares. A few kB that cross from the extraction worker to the crawl
    # process as one bytes object, where the shingles themselves were thousands of strings.
    # Two shingles of one pair of texts share a hash about once in 10,000 pairs of articles.
    shingle_hashes: bytes
    buckets: tuple[int, ...]  # one per band; empty for texts too short to fingerprint

    @property
    def usable(self) -> bool:
        return bool(self.buckets)


def fingerprint(text: str, *, buckets: bool = True) -> Fingerprint:
    """The text's fingerprint; without `buckets`, only what the similarity check needs."""
    import numpy as np

    grams = [gram.encode("utf-8") for gram in shingles(text)]
    # CRC-32 per shingle: a tenth of the cost of SHA-1, and as good a spread for picking
    # minima among a page's few hundred shingles.
    hashes = np.unique(np.fromiter(map(zlib.crc32, grams), dtype=np.uint32, count=len(grams)))
    shingle_hashes = hashes.astype("<u4").tobytes()
    if not buckets or len(grams) < MIN_SHINGLES:
        return Fingerprint(shingle_hashes, ())
    # Converted once for all bands; each band's bytes are a slice of the whole signature's.
    signature = minhash(hashes).astype("<u4").tobytes()
    width = ROWS * 4
    bands = tuple(_bucket(b, signature[b * width : (b + 1) * width]) for b in range(BANDS))
    return Fingerprint(shingle_hashes, bands)


def similarity(a: bytes, b: bytes) -> float:
    """Exact Jaccard similarity of two texts' shingles, from their Fingerprint.shingle_hashes."""
    if not a or not b:
        return 0.0
    import numpy as np

    first, second = np.frombuffer(a, dtype="<u4"), np.frombuffer(b, dtype="<u4")
    common = np.intersect1d(first, second, assume_unique=True).size
    return common / (first.size + second.size - common)


def is_near_duplicate(a: Fingerprint, b: Fingerprint) -> bool:
    return a.usable and b.usable and similarity(a.shingle_hashes, b.shingle_hashes) >= SIMILARITY


def first_match(candidate: Fingerprint, others: Sequence[tuple[int, Fingerprint]]) -> int | None:
    """The lowest key among `others` whose fingerprint is a near-duplicate of `candidate`."""
    matches = [key for key, other in others if is_near_duplicate(candidate, other)]
    return min(matches) if matches else None
