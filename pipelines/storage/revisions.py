"""Corrections: a re-fetched article whose text changed becomes its next revision.

The article row always holds the latest text; each text it replaced moves to
`article_revisions` with its number, hash and fetch time, so an article never corrected
costs no second copy of its text, and `newsmill history URL` can show every version
(pipelines.storage.history reads them back).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from common import fingerprint
from pipelines.storage import neardup
from pipelines.storage.models import Article, ArticleRevision, ArticleUrl, url_hash
from pipelines.storage.records import ArticleRecord

if TYPE_CHECKING:
    from sqlalchemy import CursorResult

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
