"""An article's stored versions, read back: `newsmill history URL`, and the articles a recheck
fetches again."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from common.urls import canonicalize
from pipelines.storage.database import Store
from pipelines.storage.models import Article, ArticleRevision, ArticleUrl, url_hash


@dataclass(frozen=True, slots=True)
class Version:
    revision: int
    fetched_at: datetime
    content_hash: str
    text: str


@dataclass(frozen=True, slots=True)
class History:
    article_id: int
    url: str  # the article's own URL (the one asked for may be an alias of it)
    title: str | None
    versions: list[Version]  # oldest first; the last is what the article shows now

    def diffs(self) -> list[tuple[Version, Version, list[str]]]:
        """Each version beside the one before it, as a unified diff by paragraph."""
        out = []
        for old, new in zip(self.versions, self.versions[1:], strict=False):
            lines = difflib.unified_diff(
                old.text.splitlines(),
                new.text.splitlines(),
                fromfile=f"revision {old.revision}",
                tofile=f"revision {new.revision}",
                lineterm="",
            )
            out.append((old, new, list(lines)))
        return out


def history(store: Store, url: str) -> History | None:
    """Every stored version of the article known by `url` (its own URL or an alias)."""
    key = url_hash(canonicalize(url) or url)
    with store.sessions() as session:
        article = session.scalar(
            select(Article)
            .join(ArticleUrl, ArticleUrl.article_id == Article.id)
            .where(ArticleUrl.url_hash == key)
        )
        if article is None:
            return None
        older = session.scalars(
            select(ArticleRevision)
            .where(ArticleRevision.article_id == article.id)
            .order_by(ArticleRevision.revision)
        )
        versions = [Version(r.revision, r.fetched_at, r.content_hash, r.text) for r in older]
        versions.append(Version(article.revision, article.fetched_at, article.content_hash, article.text))
        return History(article.id, article.url, article.title, versions)

