"""The two extraction development sets, loaded as pages with what each is scored against.

- fundus-eval: 80 English news pages with hand-extracted bodies (paragraphs; "[...]" optional),
  scored with the shingle metric.
- trafilatura-eval: trafilatura's own evaluation corpus, 990 pages of many kinds and languages,
  each with snippets the text must contain ("with") and must not ("without"), scored with the
  snippet metric.

Each set's README (under ../shared/datasets/) describes its layout and scoring; nothing of them
is copied here. Pages are split into two fixed halves by a hash of their key, so that a rule
tuned on one half can be checked on the other.
"""

from __future__ import annotations

import gzip
import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path

FUNDUS = "fundus-eval"
TRAFILATURA = "trafilatura-eval"
SETS = (FUNDUS, TRAFILATURA)


@dataclass(slots=True)
class Page:
    key: str
    publisher: str  # fundus-eval: the publisher; trafilatura-eval: the site's host
    url: str
    html: str | bytes
    body: list[str] = field(default_factory=list)  # fundus-eval's ground truth
    with_: list[str] = field(default_factory=list)  # trafilatura-eval's snippets
    without: list[str] = field(default_factory=list)

    @property
    def half(self) -> str:
        """"A" or "B", fixed per page: a tuning half and a held-out half of every set."""
        return "AB"[zlib.crc32(self.key.encode()) % 2]


def find_dataset(name: str, start: Path) -> Path | None:
    """shared/datasets/NAME beside `start` or beside one of its parents (a worktree sits one
    level deeper than the main checkout)."""
    for folder in (start, *start.parents):
        candidate = folder / "shared" / "datasets" / name
        if candidate.is_dir():
            return candidate
    return None


def load_pages(root: Path, only: str | None = None) -> list[Page]:
    """The fundus-eval pages (the name site_eval.py imports)."""
    truth = json.loads((root / "ground_truth.json").read_text(encoding="utf-8"))
    pages = []
    for key, entry in truth.items():
        name = key.removesuffix(".html.gz")
        if only and not name.startswith(only):
            continue
        html = (root / "pages" / name / "source.html").read_text(encoding="utf-8")
        pages.append(Page(name, name.rsplit("_", 1)[0], entry["url"], html, entry["body"]))
    return pages


def load_trafilatura_eval(root: Path, only: str | None = None) -> list[Page]:
    """The trafilatura-eval pages as bytes, as its README says to pass them."""
    truth = json.loads((root / "evaldata.json").read_text(encoding="utf-8"))
    pages = []
    for url, entry in truth.items():
        name = entry["file"]
        if only and not name.startswith(only):
            continue
        html = gzip.decompress((root / "html" / f"{name}.gz").read_bytes())
        host = url.split("/")[2] if url.count("/") >= 2 else url
        pages.append(Page(name, host, url, html, with_=list(entry["with"]),
                          without=list(entry["without"])))
    return pages


def load_set(name: str, root: Path, only: str | None = None) -> list[Page]:
    return load_pages(root, only) if name == FUNDUS else load_trafilatura_eval(root, only)


def is_dataset(name: str, root: Path) -> bool:
    marker = "ground_truth.json" if name == FUNDUS else "evaldata.json"
    return (root / marker).is_file()
