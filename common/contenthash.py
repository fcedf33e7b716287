"""The exact-duplicate key of an article: a hash of its words, whatever the typesetting."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from functools import lru_cache

# A word is a run of letters and digits; "_" is \w for the regex but punctuation here. No
# character is both a letter or digit and whitespace, so these runs are exactly the words left
# by replacing every other character with a space and splitting.
_WORD = re.compile(r"[^\W_]+")


def words(text: str) -> list[str]:
    """The words of a text, case-folded, punctuation gone: what survives re-typesetting."""
    return list(_words(text))


@lru_cache(maxsize=4)
def _words(text: str) -> tuple[str, ...]:
    # An extraction worker hashes and fingerprints each text right after the other; the few
    # most recent texts' words are kept so that the second one does not split them again.
    return tuple(_WORD.findall(unicodedata.normalize("NFKC", text).casefold()))


def normalise_text(text: str) -> str:
    return " ".join(words(text))


def content_hash(text: str) -> str:
    return hashlib.sha256(normalise_text(text).encode("utf-8")).hexdigest()
