"""The exact-duplicate key of an article: a hash of its words, whatever the typesetting."""

from __future__ import annotations

import hashlib
import re
import unicodedata

_NON_WORD = re.compile(r"[\W_]+")


def normalise_text(text: str) -> str:
    """The words of a text, case-folded: what stays when a copy is re-typeset."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_NON_WORD.sub(" ", text).split())


def content_hash(text: str) -> str:
    return hashlib.sha256(normalise_text(text).encode("utf-8")).hexdigest()
