"""Corrections: a re-fetched article whose text changed becomes its next revision.

The article row always holds the latest text; each text it replaced moves to
`article_revisions` with its number, hash and fetch time, so an article never corrected
costs no second copy of its text, and `newsmill history URL` can show every version.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from crawler.urls import canonicalize
from pipelines import fingerprint, neardup
from pipelines.models import Article, ArticleRevision, ArticleUrl, url_hash

if TYPE_CHECKING:  # the store calls in here, inside its own transactions
    from sqlalchemy import CursorResult

    from pipelines.database import ArticleRecord, Store

REVISED, UNCHANGED, UNKNOWN = "revised", "unchanged", "unknown"


def apply(session: Session, records: Sequence[ArticleRecord]) -> list[str]:
    """Store re-fetched articles in the session's transaction: REVISED, UNCHANGED or UNKNOWN
    for each (UNKNOWN: no article has that URL, so the caller stores it as a new page)."""
    if not records:
        return []
    rows = session.execute(
        select(ArticleUrl.url_hash, Article)
        .join(Article, Article.id == ArticleUrl.article_id)
        .where(ArticleUrl.url_hash.in_([url_hash(r.url) for r in records]))
    )
    articles = {h: a for h, a in rows}
    taken = set(
        session.scalars(
            select(Article.content_hash).where(Article.content_hash.in_([r.content_hash for r in records]))
        )
    )
    reindex: dict[int, tuple[int, ...]] = {}
    outcome = [UNKNOWN] * len(records)
    stored = [(a, i) for i, r in enumerate(records) if (a := articles.get(url_hash(r.url))) is not None]
    # Rows are updated in id order, in every writer: two crawls revising the same articles in
    # opposite orders would each wait on the other (a deadlock on PostgreSQL).
    for article, i in sorted(stored, key=lambda pair: pair[0].id):
        record = records[i]
        # An alias (a copy's URL) never rewrites the story it was merged into; and a text
        # some article already holds is no correction of this one.
        if article.url != record.url or record.content_hash in taken:
            outcome[i] = UNCHANGED
            continue
        result = session.execute(
            update(Article)
            .where(Article.id == article.id, Article.content_hash == article.content_hash)
            .values(
                text=record.text,
                content_hash=record.content_hash,
                fetched_at=record.fetched_at,
                updated_at=record.fetched_at,
                revision=article.revision + 1,
                title=record.title or article.title,
                authors=record.authors or article.authors,
                description=record.description or article.description,
                image=record.image or article.image,
                tags=record.tags or article.tags,
            )
            .execution_options(synchronize_session=False)
        )
        # An UPDATE's result is a CursorResult, which counts the rows it changed. None: another
        # crawl revised the article a moment ago, and its revision stands.
        if not cast("CursorResult[Any]", result).rowcount:
            outcome[i] = UNCHANGED
            continue
        session.add(
            ArticleRevision(
                article_id=article.id,
                revision=article.revision,
                text=article.text,
                content_hash=article.content_hash,
                fetched_at=article.fetched_at,
            )
        )
        taken.add(record.content_hash)
        reindex[article.id] = fingerprint.fingerprint(record.text).buckets
        outcome[i] = REVISED
    session.flush()
    neardup.index(session, reindex, replace=True)
    return outcome


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


def recent_urls(store: Store, source: str, since: datetime) -> list[str]:
    """The source's articles first seen at or after `since`: those a recheck fetches again."""
    with store.sessions() as session:
        return list(
            session.scalars(
                select(Article.url)
                .where(Article.source == source, Article.first_seen_at >= since)
                .order_by(Article.first_seen_at.desc())
            )
        )
